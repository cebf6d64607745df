"""Sample from a checkpoint, like nanoGPT's sample.py: `python -m model.sample --prompt "ROMEO:"`.

With one sample, stdout holds only the generated continuation; everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from .checkpoint import CheckpointError
from .generate import generate, stream
from .loader import load_model
from .sampling import SamplingParams
from .settings import DEFAULT_SAMPLING, ModelSettings
from .tokenizer import TokenizerError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = ModelSettings.from_env()
    d = DEFAULT_SAMPLING
    p = argparse.ArgumentParser(prog="python -m model.sample", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=env.checkpoint,
                   help="checkpoint file or Hugging Face directory (default: $MODEL_CHECKPOINT or the bundled model)")
    p.add_argument("--prompt", default="", help="the text to continue; FILE:path reads it from a file")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens)
    p.add_argument("--temperature", type=float, default=d.temperature, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=d.top_k, help="0 = off")
    p.add_argument("--top-p", type=float, default=d.top_p)
    p.add_argument("--min-p", type=float, default=0.0)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="sample i uses seed + i")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--stream", action="store_true", help="print tokens as they are decoded (one sample)")
    p.add_argument("--device", default=env.device, help="auto | cpu | cuda | cuda:N | mps (default: $DEVICE or auto)")
    p.add_argument("--dtype", default=env.dtype, help="auto | float32 | bfloat16 | float16 (default: $DTYPE or auto)")
    p.add_argument("--gelu", choices=["none", "tanh"], default=env.gelu,
                   help="override the GELU variant (tanh for checkpoints of nanoGPT before May 2023)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prompt = args.prompt
    if prompt.startswith("FILE:"):
        with open(prompt[5:], encoding="utf-8") as f:
            prompt = f.read()
    try:
        lm = load_model(args.checkpoint, device=args.device, dtype=args.dtype, gelu=args.gelu, panels=True)
        # an empty prompt starts a new document, as the model saw at training time
        prompt_ids = lm.tokenizer.encode(prompt) if prompt else [lm.tokenizer.eot_id or 0]
    except (CheckpointError, TokenizerError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: {lm.checkpoint.format}, {lm.parameters / 1e6:.2f}M parameters, "
          f"{lm.device} {str(lm.dtype).removeprefix('torch.')}", file=sys.stderr)

    def params(i: int) -> SamplingParams:
        return SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, min_p=args.min_p, repetition_penalty=args.repetition_penalty,
                              stop=tuple(args.stop), seed=None if args.seed is None else args.seed + i)

    t0 = time.perf_counter()
    if args.stream and args.num_samples == 1:
        n = 0
        for out in stream(lm, prompt_ids, params(0)):
            sys.stdout.write(out.text)
            sys.stdout.flush()
            n += 1
        sys.stdout.write("\n")
    else:
        seqs = generate(lm, [prompt_ids] * args.num_samples, [params(i) for i in range(args.num_samples)],
                        max_batch=args.num_samples)
        for i, seq in enumerate(seqs):
            if args.num_samples > 1:
                print(f"--- sample {i + 1} ---")
            print(seq.text)
        n = sum(len(s.tokens) for s in seqs)
    dt = time.perf_counter() - t0
    print(f"{n} tokens in {dt:.2f} s ({n / dt:.1f} tokens/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
