"""Decoder steps of GPT-2 124M fp32 (panels, as served), positions 128..190, sampled: ms a step, median.

    python samplestep.py LABEL [ROWS]    (16 rows unless told)
"""
import statistics, sys, time, torch
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 16
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
out = []
for name, kw in [("greedy", dict(temperature=0.0)), ("t=1", dict(temperature=1.0)),
                 ("t=0.8 top_p=0.95", dict(temperature=0.8, top_p=0.95)), ("t=0.7 top_k=40", dict(temperature=0.7, top_k=40))]:
    dec = Decoder(lm, max_batch=rows, max_len=1024, seed=0)
    params = SamplingParams(max_tokens=70, ignore_eos=True, **kw)
    dec.add_many([([i + 1] * 128, params) for i in range(rows)])
    steps = []
    for _ in range(60):
        t = time.perf_counter(); dec.step(); steps.append(time.perf_counter() - t)
    out.append(f"{name} {1e3 * statistics.median(steps[4:]):.2f}")
print(sys.argv[1], "; ".join(out))
