"""The C decode step (model/cpu_step.py) of 16 fp32 rows at fixed positions 16, 256 and 500: how its attention's
time grows with the keys it reads. Run from the repository root with PYTHONPATH=. (session 13, issue 17)."""
import time, statistics, torch
from bench.decode import build_models
from model.generate import Decoder
torch.manual_seed(0)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
dec = Decoder(lm, max_batch=16, max_len=1024, seed=0)
dec.cache.kv.normal_()
t = {16: [], 256: [], 500: []}
with torch.inference_mode():
    for i in range(12):
        for pos in t:
            inp = torch.tensor([[5, pos]] * 16)
            a = time.perf_counter(); dec.fused.run(inp); t[pos].append(time.perf_counter() - a)
m = {p: 1e3 * statistics.median(v) for p, v in t.items()}
print(" ".join(f"{p}:{v:.1f}" for p, v in m.items()), f"attn256={m[256]-m[16]:.1f} attn500={m[500]-m[16]:.1f}")
