"""One prefill of ROWS rows through the C step, N times, for a profiler: python c_only.py DTYPE ROWS N [KV_DTYPE]
(GPT-2 124M's shape in panels; the repository on PYTHONPATH)."""
import sys
import time

import torch

from bench.decode import build_models
from model.generate import Decoder

torch.set_num_threads(2)
dtype, T, n = getattr(torch, sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lm, _ = build_models("124M", torch.device("cpu"), dtype, panels=True)
if len(sys.argv) > 4:
    lm.kv_dtype = getattr(torch, sys.argv[4])
decoder = Decoder(lm, max_batch=1, max_len=T + 8)
tokens = [list(range(1000, 1000 + T))]
with torch.inference_mode():
    decoder.fused.prefill(tokens, 0, 0)
    t0 = time.perf_counter()
    for _ in range(n):
        decoder.fused.prefill(tokens, 0, 0)
    print(f"ms {1e3 * (time.perf_counter() - t0) / n:.1f}", sys.argv[1:])
