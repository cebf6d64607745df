"""Every sample of cpu_step.time_steps' old order (a bucket's three rounds back to back, C then PyTorch) for 8, 16
and 32 rows, three passes: PYTHONPATH=. python step_choice_samples.py"""
import os
import time

import torch

from bench.decode import build_models
from model.cpu_step import BUCKETS, FusedDecode
from model.kv_cache import KVCache

os.environ["CPU_MATMUL"] = "kernel"  # FusedDecode.build without its own timing
torch.set_num_threads(2)
model = build_models("124M", torch.device("cpu"), torch.float32)[0].model
for _ in range(3):
    cache = KVCache(model.config, BUCKETS[-1], 32, "cpu", torch.float32)
    fused = FusedDecode.build(model, cache)
    line = []
    with torch.inference_mode():
        for rows in BUCKETS:
            inputs = torch.tensor([[0, 31]] * rows)
            samples = {"C": [], "PyTorch": []}
            for _ in range(3):
                for side in samples:
                    start = time.perf_counter()
                    if side == "C":
                        fused.run(inputs)
                    else:
                        model.forward_cached(inputs[:, :1], inputs[:, 1:], cache.rows(0, rows), 32, start=31)
                    samples[side].append((time.perf_counter() - start) * 1e3)
            line.append(f"rows {rows}: " + "; ".join(f"{side} " + "/".join(f"{v:.1f}" for v in values)
                                                     for side, values in samples.items()))
    print(" | ".join(line[-3:]), flush=True)
