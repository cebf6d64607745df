"""Decode tokens/s of our Decoder against Hugging Face transformers' GPT2LMHeadModel.generate, same weights.

    python -m bench.decode [--device cpu|cuda] [--size 124M|350M] [--batch-sizes 1,8,32] [--new-tokens N]

A GPT-2-shaped model is initialised at random (vocab 50257, so both sides hold exactly the same weights) and
copied into transformers through model.hf. Both decode greedily with a KV cache from B prompts of the same
length, in the same dtype (fp32 on CPU, bf16 on CUDA), alternating run by run. Every decode step is timed:
ours is one `Decoder.step()`; transformers' is the time between two calls of a logits processor, which
generate() makes once per token, so the interval is one whole iteration of its loop (forward, cache update,
logits processing). Decode tokens/s is B over the median step, pooled over --repeats runs after a warm-up;
the median keeps bursts of load from other processes out of the figure. Prefill is reported apart.

    python -m bench.decode --peer llama.cpp [--batch-sizes 1] [--repeats 3]

also times llama.cpp at batch 1 (bench/llama_cpp.py: built once into a cache outside the repo), on GGUF files
(f32, f16, q8_0) converted from the same random weights, alternating with ours run by run.
"""
import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import torch

from model import cpu_paths
from model.checkpoint import Checkpoint
from model.config import GPTConfig
from model.generate import Decoder
from model.gpt import GPT
from model.hf import hf_config, hf_state_dict
from model.loader import LoadedModel, place_model
from model.sampling import SamplingParams
from model.tokenizer import gpt2_tokenizer

# 3M: one narrow layer, so that a CPU decodes it in a few ms and bench.serve measures the server's own cost per token
SIZES = {"124M": dict(n_layer=12, n_head=12, n_embd=768), "350M": dict(n_layer=24, n_head=16, n_embd=1024),
         "3M": dict(n_layer=1, n_head=1, n_embd=64)}
N_VOCAB = 50257
PREFILL_REPETITIONS = 3  # prefills of the prompt timed per repeat against llama.cpp, each side (llama-bench -r)


def build_models(size: str, device: torch.device, dtype: torch.dtype, quantize: str = "none", panels: bool = False):
    """Our model wrapped as a LoadedModel, and transformers' GPT2LMHeadModel holding the same weights. panels: as
    the server holds it (loader.place_model's), for timing; not for writing a checkpoint."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES[size])
    ours = GPT(config)
    ours.init_weights(seed=0)
    tok = gpt2_tokenizer()
    hf = GPT2LMHeadModel(GPT2Config(**hf_config(config, tok.n_vocab)))
    missing, unexpected = hf.load_state_dict(hf_state_dict(ours, tok.n_vocab), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    hf.tie_weights()
    place_model(ours, device, dtype, quantize, panels)
    hf = hf.to(device=device, dtype=dtype).eval().requires_grad_(False)
    ck = Checkpoint(Path(f"<random GPT-2 {size}>"), "random", config, {}, tok)
    return LoadedModel(ours, tok, ck, device, dtype), hf


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_ours(lm: LoadedModel, prompts: list[list[int]], new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0) -> tuple[float, list[float], list[list[int]]]:
    """(prefill seconds for all the prompts, seconds of each of the new_tokens - 1 decode steps, tokens); greedy
    at temperature 0, else sampled."""
    decoder = Decoder(lm, max_batch=len(prompts), max_len=len(prompts[0]) + new_tokens, seed=0)
    params = SamplingParams(max_tokens=new_tokens, temperature=temperature, top_p=top_p, ignore_eos=True)
    sync(lm.device)
    t0 = time.perf_counter()
    seqs = [out.seq for out in decoder.add_many([(p, params) for p in prompts])]  # one prefill, as the engine does
    sync(lm.device)
    prefill, steps = time.perf_counter() - t0, []
    for _ in range(new_tokens - 1):
        t0 = time.perf_counter()
        decoder.step()
        sync(lm.device)
        steps.append(time.perf_counter() - t0)
    assert all(s.done and len(s.tokens) == new_tokens for s in seqs)
    return prefill, steps, [s.tokens for s in seqs]


class StepClock:
    """A logits processor that only notes the time: generate() calls it once per new token."""

    def __init__(self, device: torch.device):
        self.device = device
        self.times: list[float] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sync(self.device)
        self.times.append(time.perf_counter())
        return scores


@torch.inference_mode()
def run_hf(hf, prompts: list[list[int]], new_tokens: int, temperature: float = 0.0,
           top_p: float = 1.0) -> tuple[float, list[float], list[list[int]]]:
    """(prefill seconds: start to the first token's logits, seconds of each later step, tokens); greedy at
    temperature 0, else sampled (with no top-k: generate's default is 50)."""
    from transformers import LogitsProcessorList

    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if temperature else \
        dict(do_sample=False)

    idx = torch.tensor(prompts, device=hf.device)
    clock = StepClock(hf.device)
    sync(hf.device)
    t0 = time.perf_counter()
    out = hf.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=new_tokens,
                      min_new_tokens=new_tokens, use_cache=True, pad_token_id=N_VOCAB - 1,
                      logits_processor=LogitsProcessorList([clock]), **sampling)
    t = clock.times
    assert len(t) == new_tokens
    return t[0] - t0, [b - a for a, b in zip(t, t[1:])], out[:, idx.size(1):].tolist()


def bench_batch(lm, hf, B: int, args) -> dict:
    g = torch.Generator().manual_seed(B)
    prompts = torch.randint(0, N_VOCAB - 1, (B, args.prompt_tokens), generator=g).tolist()
    run_ours(lm, prompts, 4)  # warm-up: allocator, thread pool, kernels chosen for these shapes
    run_hf(hf, prompts, 4)
    ours, hf_runs = [], []
    for _ in range(args.repeats):  # alternate, so both sides see the same machine
        ours.append(run_ours(lm, prompts, args.new_tokens))
        hf_runs.append(run_hf(hf, prompts, args.new_tokens))
    step = statistics.median(t for r in ours for t in r[1])
    hf_step = statistics.median(t for r in hf_runs for t in r[1])
    ours_tokens, hf_tokens = ours[0][2], hf_runs[0][2]
    agree = [next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), len(x)) for x, y in zip(ours_tokens, hf_tokens)]
    return {
        "batch": B, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "ours_tok_s": B / step, "hf_tok_s": B / hf_step, "ratio": hf_step / step,
        "ours_ms_per_step": 1e3 * step, "hf_ms_per_step": 1e3 * hf_step,
        "ours_prefill_ms": 1e3 * statistics.median(r[0] for r in ours),
        "hf_prefill_ms": 1e3 * statistics.median(r[0] for r in hf_runs),
        "greedy_agree": min(agree),  # tokens equal before the first difference, worst row
        "ours_tokens": ours_tokens[0][:8], "hf_tokens": hf_tokens[0][:8],
    }


def write_checkpoint(lm, path: Path) -> None:
    """The benchmark's weights as a nanoGPT checkpoint (fp32), for a server or an exporter to read."""
    c = lm.config
    args = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size, bias=c.bias,
                vocab_size=c.vocab_size, dropout=0.0)
    sd = {k: v.detach().to("cpu", torch.float32) for k, v in lm.model.state_dict().items()}
    torch.save({"model": sd, "model_args": args}, path)


# --- --peer llama.cpp: batch 1 against llama-bench on the same weights -------------------------------------------

def export_same_weights(size: str, out_dir: Path) -> Path:
    """build_models' random weights (fp32, before any --quantize) as a Hugging Face directory, via model.export_hf."""
    from types import SimpleNamespace

    from model.export_hf import export_hf

    model = GPT(GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES[size]))
    model.init_weights(seed=0)  # the same seed as build_models, so the same weights
    write_checkpoint(SimpleNamespace(config=model.config, model=model), out_dir / "random.pt")
    return export_hf(out_dir / "random.pt", out_dir / "hf")


def agreeing_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens a and b share before their first difference."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def bench_llama_cpp(lm: LoadedModel, args) -> dict:
    """Batch-1 decode and prefill tok/s of ours and of llama.cpp (f32, f16, q8_0), alternating run by run.

    llama-bench reports tg as n_gen over the whole generation (the mean step), so ours is given as the mean
    step too, beside its usual median; tg runs at a depth of --prompt-tokens, as our steps follow the prompt.
    """
    import tempfile

    import httpx

    from bench import llama_cpp

    llama_cpp.build()
    with tempfile.TemporaryDirectory(prefix="bench-decode-llama-") as tmp:
        ggufs = {t: llama_cpp.to_gguf(export_same_weights(args.size, Path(tmp)), t) for t in llama_cpp.OUTTYPES}
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(0, N_VOCAB - 1, (1, args.prompt_tokens), generator=g).tolist()
    run_ours(lm, prompts, 4)  # warm-up
    ours, prefills, peer = [], [], {t: [] for t in ggufs}
    for _ in range(args.repeats):
        ours.append(run_ours(lm, prompts, args.new_tokens))
        # as llama-bench times pp: the prompt prefilled again, `repetitions` times, after the run that warmed it
        prefills += [run_ours(lm, prompts, 1)[0] for _ in range(PREFILL_REPETITIONS)]
        for t, gguf in ggufs.items():
            peer[t].append(llama_cpp.bench_decode(gguf, args.threads, args.new_tokens, args.prompt_tokens,
                                                  PREFILL_REPETITIONS))
    steps = [t for r in ours for t in r[1]]
    # same weights, so the same greedy text, at least at first (the two differ a little in GELU and in sums)
    n_check = min(16, args.new_tokens)
    ours_greedy = ours[0][2][0][:n_check]
    agree = {}
    for t, g in ggufs.items():
        try:
            theirs = llama_cpp.greedy_tokens(g, prompts[0], n_check, args.threads)
            agree[t] = f"{agreeing_prefix(ours_greedy, theirs)}/{n_check}"
        except (RuntimeError, OSError, httpx.HTTPError) as e:  # llama-server died (AMX q8_0 prefill on some VMs)
            agree[t] = f"failed: {type(e).__name__}"
    return {
        "peer": "llama.cpp", "batch": 1, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "threads": args.threads, "llama_cpp_build": peer["f32"][0]["build"],
        "ours_tok_s": 1 / statistics.median(steps), "ours_mean_step_tok_s": len(steps) / sum(steps),
        "ours_prefill_tok_s": args.prompt_tokens / statistics.median(prefills),
        "llama_cpp": {t: {"tg_tok_s": statistics.median(r["tg_tok_s"] for r in runs),
                          "pp_tok_s": statistics.median(r["pp_tok_s"] for r in runs),
                          "greedy_agree": agree[t]} for t, runs in peer.items()},
    }


def print_llama_cpp(r: dict, ours: str) -> None:
    print(f"llama.cpp (build {r['llama_cpp_build']}), batch 1, threads {r['threads']}, tg at depth "
          f"{r['prompt_tokens']}: decode tok/s (mean step), prefill tok/s of {r['prompt_tokens']} tokens")
    print(f"  {'ours ' + ours:<14} decode {r['ours_mean_step_tok_s']:>7.1f} "
          f"(median step {r['ours_tok_s']:.1f})  prefill {r['ours_prefill_tok_s']:>7.1f}")
    for t, v in r["llama_cpp"].items():
        print(f"  {'llama.cpp ' + t:<14} decode {v['tg_tok_s']:>7.1f}  ours/llama.cpp "
              f"{r['ours_mean_step_tok_s'] / v['tg_tok_s']:>5.2f}x    prefill {v['pp_tok_s']:>7.1f}  "
              f"greedy agree {v['greedy_agree']}", flush=True)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="124M", choices=sorted(SIZES))
    ap.add_argument("--batch-sizes", default="1,8,32")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU (this machine has 2 cores)")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--quantize", default="none", choices=["none", "int8"],
                    help="int8: our model's weights as QUANTIZE=int8 loads them (model/quantize.py); the peer stays")
    ap.add_argument("--peer", default="transformers", choices=["transformers", "llama.cpp"],
                    help="llama.cpp: after the transformers table, also time llama.cpp at batch 1 (CPU only)")
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                    help="both sides' weights and activations (default: bfloat16 on CUDA, float32 on CPU)")
    args = ap.parse_args(argv)
    logging.basicConfig(format="%(message)s")
    for name in ("model.cpu_paths", "model.panels"):  # which product each shape takes, and its times
        logging.getLogger(name).setLevel(logging.INFO)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    lm, hf = build_models(args.size, device, dtype, args.quantize, panels=True)
    if args.quantize != "none":
        from model.quantize import weight_bytes
        print(f"{args.quantize}: weights {weight_bytes(hf) / 2**20:.0f} MiB -> {weight_bytes(lm.model) / 2**20:.0f} MiB")
    products = ""
    if device.type == "cpu" and args.quantize == "none":
        chosen = {m.cpu_paths for m in lm.model.modules() if "cpu_paths" in m.__dict__}
        products = ", products by rows " + " | ".join(
            " ".join(f"{rows}:{path}" for rows, path in zip(cpu_paths.BUCKETS, paths)) for paths in sorted(chosen))
    print(f"GPT-2 {args.size}, {device}, {str(dtype).removeprefix('torch.')}, threads {torch.get_num_threads()}, "
          f"prompt {args.prompt_tokens}, {args.new_tokens} new tokens, median step of {args.repeats} runs each"
          + products)
    print(f"{'batch':>5} {'ours tok/s':>11} {'hf tok/s':>9} {'ratio':>6} {'ours ms/step':>13} {'hf ms/step':>11} "
          f"{'prefill ms ours/hf':>19} {'greedy agree':>13}")
    results = []
    for B in (int(b) for b in args.batch_sizes.split(",")):
        r = bench_batch(lm, hf, B, args)
        results.append(r)
        print(f"{B:>5} {r['ours_tok_s']:>11.1f} {r['hf_tok_s']:>9.1f} {r['ratio']:>5.2f}x {r['ours_ms_per_step']:>13.1f} "
              f"{r['hf_ms_per_step']:>11.1f} {r['ours_prefill_ms']:>10.0f}/{r['hf_prefill_ms']:<8.0f} "
              f"{r['greedy_agree']:>6}/{args.new_tokens}",
              flush=True)
        if B == 1:  # a fair comparison decodes the same text: greedy tokens agree at least at the start
            print(f"      batch 1 greedy, first 8: ours {r['ours_tokens']} hf {r['hf_tokens']}", flush=True)
            # (int8 weights change the numbers, so its greedy text may part from the fp32 peer's early)
            assert r["greedy_agree"] >= min(4, args.new_tokens) or args.quantize != "none", \
                "greedy tokens of ours and transformers differ"
    if args.peer == "llama.cpp":
        if device.type == "cpu" and 1 in (int(b) for b in args.batch_sizes.split(",")):
            results.append(bench_llama_cpp(lm, args))
            print_llama_cpp(results[-1], args.quantize if args.quantize != "none" else str(dtype).removeprefix("torch."))
        else:  # llama-bench here is a CPU build, and its decode is batch 1
            print("--peer llama.cpp: skipped, it needs --device cpu and batch size 1 in --batch-sizes")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
