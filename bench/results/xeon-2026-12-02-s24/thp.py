"""Decode steps of GPT-2 124M fp32 (panels, as served) at 1 and 16 rows, positions 128..192: ms a step, median."""
import os, statistics, time, torch
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
out = []
for B in (1, 16):
    dec = Decoder(lm, max_batch=16, max_len=1024, seed=0)
    params = SamplingParams(max_tokens=70, temperature=0.0, ignore_eos=True)
    dec.add_many([([i + 1] * 128, params) for i in range(B)])
    steps = []
    for _ in range(64):
        t = time.perf_counter(); dec.step(); steps.append(time.perf_counter() - t)
    out.append(f"{B} rows {1e3 * statistics.median(steps[4:]):.2f}")
ah = [l for l in open(f"/proc/{os.getpid()}/smaps_rollup") if "AnonHuge" in l][0].split()[1]
print(f"THP={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')} " + ", ".join(out) + f" ms; AnonHugePages {int(ah)//1024} MB")
