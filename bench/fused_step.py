"""The Triton decode step (model/cuda_step.py) against PyTorch's, both in CUDA graphs, in one device call: a sweep
of tile shapes at batch 1, the kernels' times, graph replay time per batch bucket, the logits and greedy tokens of
both against eager decoding, and the time to capture the graphs with Triton's cache empty and full.

    python -m bench.fused_step [--json F] [--max-fused 64]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TRITON_CACHE_DIR", tempfile.mkdtemp())  # empty: the first capture compiles, as at a user's

import torch  # noqa: E402

from bench.decode import build_models  # noqa: E402
from bench.gpu_check import timed  # noqa: E402
from model import cuda_graphs  # noqa: E402
from model.generate import Decoder  # noqa: E402
from model.kv_cache import KVCache  # noqa: E402
from model.loader import load_model  # noqa: E402
from model.sampling import SamplingParams  # noqa: E402
from model.settings import BUNDLED_CHECKPOINT  # noqa: E402

SHIPPED_MAX_BATCH = cuda_graphs.FUSED_MAX_BATCH


def capture_seconds(lm, fused: bool) -> float:
    cache = KVCache(lm.config, 256, 1024, "cuda", lm.dtype)
    torch.cuda.synchronize()
    t = time.perf_counter()
    cuda_graphs.GraphedDecode(lm.model, cache, 256, fused=fused)
    return time.perf_counter() - t


def sweep(lm, context: int = 256) -> list[dict]:
    """The batch-1 graph's replay time for tile shapes and warps of the products and of attention."""
    from model import cuda_step
    cache = KVCache(lm.config, 1, 1024, "cuda", lm.dtype)
    cache.kv.normal_()
    rows = []
    configs = [(t, w, 256, 8) for t, w in ((4096, 4), (8192, 4), (8192, 8), (16384, 4))]
    configs += [(8192, 4, bt, aw) for bt, aw in ((128, 8), (256, 4), (512, 8))]
    shipped = cuda_step.TILE, cuda_step.WARPS, cuda_step.BLOCK_T, cuda_step.ATTENTION_WARPS
    for tile, warps, block_t, attention_warps in configs:
        cuda_step.TILE, cuda_step.WARPS, cuda_step.BLOCK_T, cuda_step.ATTENTION_WARPS = tile, warps, block_t, \
            attention_warps
        g = cuda_graphs.GraphedDecode(lm.model, cache, 1)
        g.pos[:1] = context - 1
        graph, _ = g.graphs[(1, next(kv for kv in g.kv_buckets if kv >= context))]
        rows.append({"tile": tile, "warps": warps, "block_t": block_t, "attention_warps": attention_warps,
                     "us": [1e6 * timed(graph.replay, 200) for _ in range(3)]})
        print(rows[-1], flush=True)
    cuda_step.TILE, cuda_step.WARPS, cuda_step.BLOCK_T, cuda_step.ATTENTION_WARPS = shipped
    return rows


@torch.inference_mode()
def kernel_table(lm, context: int = 256) -> str:
    """torch.profiler's CUDA time per kernel of 20 eager Triton steps at batch 1."""
    from model import cuda_step
    cache = KVCache(lm.config, 1, 1024, "cuda", lm.dtype)
    idx = torch.zeros((1, 1), dtype=torch.long, device="cuda")
    pos = torch.full((1, 1), context - 1, device="cuda")
    cuda_step.decode_step(lm.model, idx, pos, cache.rows(0, 1))
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            cuda_step.decode_step(lm.model, idx, pos, cache.rows(0, 1))
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=12)


def replay_us(lm, max_fused: int, context: int = 256) -> list[dict]:
    """Replay time of each batch bucket's graph, Triton against PyTorch, every row at position context - 1."""
    rows = []
    cache = KVCache(lm.config, 256, 1024, "cuda", lm.dtype)
    cache.kv.normal_()
    cuda_graphs.FUSED_MAX_BATCH = max_fused
    sides = {name: cuda_graphs.GraphedDecode(lm.model, cache, 256, fused=name == "triton")
             for name in ("triton", "pytorch")}
    for b in cuda_graphs.BATCH_BUCKETS:
        row = {"batch": b}
        for name, g in sides.items():
            g.pos[:b] = context - 1
            graph, _ = g.graphs[(b, next(kv for kv in g.kv_buckets if kv >= context))]
            row[f"{name}_us"] = [1e6 * timed(graph.replay, 200) for _ in range(3)]
        print(row, flush=True)
        rows.append(row)
    cuda_graphs.FUSED_MAX_BATCH = SHIPPED_MAX_BATCH
    return rows


@torch.inference_mode()
def logits_gap(lm, batch: int) -> dict:
    """The Triton step's logits against eager forward_cached's, rows at scattered positions of a random cache."""
    from model import cuda_step
    caches = [KVCache(lm.config, batch, 1024, "cuda", lm.dtype) for _ in range(2)]
    caches[0].kv.normal_()
    caches[1].kv.copy_(caches[0].kv)
    g = torch.Generator().manual_seed(batch)
    idx = torch.randint(0, 50000, (batch, 1), generator=g).cuda()
    pos = torch.randint(0, 1000, (batch, 1), generator=g).cuda()
    want = lm.model.forward_cached(idx, pos, caches[0].rows(0, batch), int(pos.max()) + 1).float()
    got = cuda_step.decode_step(lm.model, idx, pos, caches[1].rows(0, batch)).float()
    return {"batch": batch, "max_abs_logit_gap": (got - want).abs().max().item(),
            "argmax_agree": (got.argmax(-1) == want.argmax(-1)).float().mean().item(),
            "max_abs_cache_gap": (caches[0].kv.float() - caches[1].kv.float()).abs().max().item()}


def greedy(lm, prompts: list[list[int]], tokens: int, graphs: bool, fused: bool) -> list[list[int]]:
    """Greedy tokens of each prompt decoded alone (batch 1)."""
    cuda_graphs.FUSED_MAX_BATCH = SHIPPED_MAX_BATCH if fused else 0
    dec = Decoder(lm, max_batch=1, max_len=1024, seed=0, cuda_graphs=graphs)
    out = []
    for p in prompts:
        seq = dec.add(p, SamplingParams(max_tokens=tokens, temperature=0, ignore_eos=True)).seq
        while not seq.done:
            dec.step()
        out.append(seq.tokens)
    cuda_graphs.FUSED_MAX_BATCH = SHIPPED_MAX_BATCH
    return out


def agreement(a: list[list[int]], b: list[list[int]]) -> dict:
    first = [next((i for i, (x, y) in enumerate(zip(u, v)) if x != y), len(u)) for u, v in zip(a, b)]
    return {"identical": sum(f == len(u) for f, u in zip(first, a)), "of": len(a), "first_difference": first}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="bench/results/fused_step.json")
    ap.add_argument("--max-fused", type=int, default=64, help="time the Triton step up to this batch")
    args = ap.parse_args()
    res: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    lm, _ = build_models("124M", torch.device("cuda"), torch.bfloat16)
    res["capture_s"] = {"triton_cold": capture_seconds(lm, True), "triton_warm": capture_seconds(lm, True),
                        "pytorch": capture_seconds(lm, False)}
    print(res["capture_s"], flush=True)
    res["sweep"] = sweep(lm)
    res["kernels"] = kernel_table(lm)
    print(res["kernels"], flush=True)
    res["replay"] = replay_us(lm, args.max_fused)
    res["logits"] = [logits_gap(lm, b) for b in (1, 3, 16)]
    print(res["logits"], flush=True)
    for name, model in (("bundled", load_model(BUNDLED_CHECKPOINT, "cuda")), ("gpt2-124M-random", lm)):
        g = torch.Generator().manual_seed(0)
        prompts = torch.randint(0, model.tokenizer.n_vocab, (8, 64), generator=g).tolist()
        eager = greedy(model, prompts, 256, graphs=False, fused=False)
        res[f"greedy_{name}"] = {"triton_vs_eager": agreement(greedy(model, prompts, 256, True, True), eager),
                                 "pytorch_graph_vs_eager": agreement(greedy(model, prompts, 256, True, False), eager)}
        print(name, res[f"greedy_{name}"], flush=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
