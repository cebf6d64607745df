"""A prefill through the C step (FusedDecode.prefill) against forward_cached's, alternated, on GPT-2 124M's shape in
panels as the server holds it: python ab_prefill_c.py DTYPE ROWS [PROMPTS] (the repository on PYTHONPATH)."""
import statistics
import sys
import time

import torch

from bench.decode import build_models
from model.generate import Decoder

torch.set_num_threads(2)
dtype, T = getattr(torch, sys.argv[1]), int(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 1
lm, _ = build_models("124M", torch.device("cpu"), dtype, panels=True)
decoder = Decoder(lm, max_batch=k, max_len=T + 8)
tokens = [list(range(1000 + i, 1000 + i + T)) for i in range(k)]
idx, pos = torch.tensor(tokens), torch.arange(T)[None].expand(k, T)
sides = {"C": lambda: decoder.fused.prefill(tokens, 0, 0),
         "torch": lambda: lm.model.forward_cached(idx, pos, decoder.cache.rows(0, k), T, start=0)}
with torch.inference_mode():
    c, eager = sides["C"](), sides["torch"]().float()
    times = {name: [] for name in sides}
    for i in range(12):
        for name in sides if i % 2 else reversed(sides):
            t0 = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t0)
print(f"{sys.argv[1]} {k} x {T} rows: max |C - torch| logits {(c - eager).abs().max().item():.2e}, "
      f"same argmax {bool((c.argmax(-1) == eager.argmax(-1)).all())}")
for name, t in times.items():
    print(f"  {name:5s} median {1e3 * statistics.median(t):7.1f} ms  {k * T / statistics.median(t):6.0f} tok/s  "
          f"range {1e3 * min(t):.1f}-{1e3 * max(t):.1f}")
print(f"  torch/C {statistics.median(times['torch']) / statistics.median(times['C']):.2f}x")
