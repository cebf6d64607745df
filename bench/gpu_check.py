"""CUDA checks and micro-timings for PERFORMANCE.md, in one device call: graphs against eager decoding (tokens
and step time), int8 weight-only matmuls against bf16, and the memory bandwidth that bounds batch-1 decode.

    python -m bench.gpu_check [--json F]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.nn import functional as F

from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams


def timed(fn, n: int = 50) -> float:
    """Median seconds of fn() over n calls, CUDA events around each."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b) / 1e3)
    return statistics.median(out)


def bandwidth() -> float:
    x = torch.randn(256 << 20, device="cuda")  # 1 GiB fp32
    y = torch.empty_like(x)
    return 2 * x.numel() * 4 / timed(lambda: y.copy_(x), 20)


def step_time(lm, B: int, graphs: bool, prompt_len: int = 128, steps: int = 64) -> tuple[float, list[list[int]]]:
    dec = Decoder(lm, max_batch=B, max_len=1024, seed=0, cuda_graphs=graphs)
    g = torch.Generator().manual_seed(B)
    prompts = torch.randint(0, 50256, (B, prompt_len), generator=g).tolist()
    seqs = [dec.add(p, SamplingParams(max_tokens=steps + 1, temperature=0, ignore_eos=True)).seq for p in prompts]
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        dec.step()  # ends in .tolist(): synchronised
        times.append(time.perf_counter() - t)
    return statistics.median(times), [s.tokens for s in seqs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="bench/results/gpu_check.json")
    args = ap.parse_args()
    res: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    res["copy_bandwidth_GBs"] = bandwidth() / 1e9
    lm, _ = build_models("124M", torch.device("cuda"), torch.bfloat16)
    res["weight_bytes_bf16"] = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    rows = []
    for B in (1, 8, 32, 128):
        eager, tok_e = step_time(lm, B, False)
        graph, tok_g = step_time(lm, B, True)
        agree = statistics.mean(next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), len(x)) / len(x)
                                for x, y in zip(tok_e, tok_g))
        rows.append({"batch": B, "eager_ms": 1e3 * eager, "graph_ms": 1e3 * graph, "graph_tok_s": B / graph,
                     "greedy_prefix_agree": agree})
        print(rows[-1], flush=True)
    res["decode_step"] = rows
    # int8 weight-only kernel against bf16 on the model's shapes
    mm = []
    for N, K in ((2304, 768), (3072, 768), (768, 3072), (50257, 768)):
        for B in (1, 128):
            x = torch.randn(B, K, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.02
            s = (w.float().abs().amax(1) / 127)
            q = torch.round(w.float() / s[:, None]).clamp(-127, 127).to(torch.int8)
            row = {"N": N, "K": K, "B": B, "bf16_us": 1e6 * timed(lambda: F.linear(x, w))}
            try:
                row["int8_us"] = 1e6 * timed(lambda: torch._weight_int8pack_mm(x, q, s.to(torch.bfloat16)))
            except RuntimeError as e:
                row["int8_error"] = str(e)[:200]
            mm.append(row)
            print(row, flush=True)
    res["int8_matmul"] = mm
    try:
        from model.quantize import quantize_model
        quantize_model(lm.model, "int8")
        rows = []
        for B in (1, 128):
            graph, _ = step_time(lm, B, True)
            rows.append({"batch": B, "int8_graph_ms": 1e3 * graph, "int8_tok_s": B / graph})
            print(rows[-1], flush=True)
        res["int8_decode_step"] = rows
    except RuntimeError as e:
        res["int8_decode_error"] = str(e)[:300]
        print("int8 decode failed:", e)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps({k: v for k, v in res.items() if k not in ("int8_matmul",)}, indent=1))


if __name__ == "__main__":
    main()
