"""Greedy tokens at batch 1, one tree (PYTHONPATH): every (checkpoint, dtype, graphs) -> tokens, as JSON lines."""
import json, sys, torch
from model.loader import load_model
from model.generate import Decoder
from model.sampling import SamplingParams
out = open(sys.argv[1], "a")
tag = sys.argv[2]
for ckpt in sys.argv[3:]:
    for dtype in ("bfloat16", "float32"):
        lm = load_model(ckpt, "cuda", dtype)
        g = torch.Generator().manual_seed(0)
        vocab = min(lm.config.vocab_size, 50257)
        prompts = [torch.randint(0, vocab, (n,), generator=g).tolist() for n in (5, 37, 128, 300)]
        for graphs in (False, True):
            toks = []
            dec = Decoder(lm, max_batch=1, max_len=1024, seed=0, cuda_graphs=graphs)
            for p in prompts:
                seq = dec.add(p, SamplingParams(max_tokens=200, temperature=0, ignore_eos=True)).seq
                while dec.running:
                    dec.step()
                toks.append(seq.tokens)
            out.write(json.dumps({"tree": tag, "ckpt": ckpt.split("/")[-1], "dtype": dtype, "graphs": graphs,
                                  "tokens": toks}) + "\n")
            out.flush()
            print(tag, ckpt.split("/")[-1], dtype, graphs, [t[:6] for t in toks], flush=True)
        del lm
        torch.cuda.empty_cache()
