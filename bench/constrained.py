"""The per-token cost of structured outputs: decode steps with and without a grammar, same model, same run.

    python -m bench.constrained [--device cpu|cuda] [--batches 1,32] [--steps 64] [--repeats 5]

GPT-2 124M-shaped random weights (bench.decode's). At each batch size B, three kinds of batch decode --steps
tokens per row, taking turns, --repeats times: every row free; every row under `{"type": "json_object"}` (at
temperature 1 a random model writes long objects, so rows stay constrained for the whole run); and one
constrained row among B - 1 free ones. The figures are the median time of a decode step (model forward, mask,
sampling, matcher advance) with its spread over repeats, and the time spent in the grammar's own work within it
(filling and applying the masks, advancing the matchers), timed directly: on a CPU it is below the step's noise.
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from pathlib import Path

import torch

from bench.decode import build_models
from model.generate import Decoder
from model.grammar import Constraint, Grammar, compile_grammar
from model.sampling import SamplingParams

KINDS = ("free", "all constrained", "one constrained")
grammar_s = [0.0]  # time inside the grammar's work, summed


def timed(fn):
    def run(*args, **kw):
        t = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            grammar_s[0] += time.perf_counter() - t
    return run


decoding = importlib.import_module("model.generate")  # the module: `model.generate` is also a function's name
decoding.mask_logits = timed(decoding.mask_logits)
Constraint.advance = timed(Constraint.advance)


def step_ms(lm, B: int, kind: str, steps: int, grammar) -> tuple[float, float]:
    """Median ms of a decode step, and mean ms of grammar work per step."""
    free = SamplingParams(max_tokens=steps + 1, temperature=1.0, seed=0, ignore_eos=True)
    json_row = SamplingParams(max_tokens=steps + 1, temperature=1.0, seed=0, grammar=grammar)
    rows = {"free": [free] * B, "all constrained": [json_row] * B,
            "one constrained": [json_row] + [free] * (B - 1)}[kind]
    decoder = Decoder(lm, max_batch=B)
    decoder.add_many([([50, 51, 52, 53], p) for p in rows])
    times, grammar_s[0] = [], 0.0
    for _ in range(steps):
        if len(decoder.running) < B:  # a row finished its object: the figure is for full batches only
            break
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        decoder.step()
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times[2:] or times), 1e3 * grammar_s[0] / len(times)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/constrained.json")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    lm, _ = build_models("124M", device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    t = time.perf_counter()
    grammar = compile_grammar(Grammar("json", None), lm.tokenizer, lm.config.vocab_size)
    compile_ms = 1e3 * (time.perf_counter() - t)  # the first grammar of a vocabulary also builds its index
    rows = []
    for B in map(int, args.batches.split(",")):
        kinds = KINDS if B > 1 else KINDS[:2]
        samples = {k: [] for k in kinds}
        for r in range(args.repeats):
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                samples[kind].append(step_ms(lm, B, kind, args.steps, grammar))
        row = {"batch": B, **{k: {"median_ms": statistics.median(s for s, _ in v), "min_ms": min(s for s, _ in v),
                                  "max_ms": max(s for s, _ in v), "grammar_ms": statistics.median(g for _, g in v)}
                              for k, v in samples.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    result = {"title": f"GPT-2 124M, {name}: decode step with and without a grammar (json_object)",
              "first_compile_ms": compile_ms, "torch": torch.__version__, "args": vars(args), "rows": rows}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(result["title"], f"(first compile, vocabulary index included: {compile_ms:.0f} ms)")
    for row in rows:
        free = row["free"]["median_ms"]
        for kind in KINDS[1:]:
            if kind in row:
                k = row[kind]
                print(f"B={row['batch']:>3} {kind:<16} {k['median_ms']:7.2f} ms/step ({k['min_ms']:.2f}-"
                      f"{k['max_ms']:.2f}) against free {free:.2f}: {k['median_ms'] - free:+.2f} ms; grammar work "
                      f"{k['grammar_ms']:.3f} ms/step")
    return result


if __name__ == "__main__":
    main()
