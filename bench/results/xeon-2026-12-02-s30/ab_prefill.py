"""Prefill of one prompt (rows x T tokens) with two builds of the kernel alternated call by call, in one process."""
import sys, time, statistics, torch
from bench.decode import build_models
from model import cpu_kernel
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
rows, T, dt, old_so = int(sys.argv[1]), int(sys.argv[2]), getattr(torch, sys.argv[3]), sys.argv[4]
lm, hf = build_models("124M", torch.device("cpu"), dt, panels=True)
del hf
libs = {"new": cpu_kernel.library(), "old": cpu_kernel.load(old_so)}
g = torch.Generator().manual_seed(1)
prompts = [torch.randint(0, 50000, (T,), generator=g).tolist() for _ in range(rows)]
params = SamplingParams(max_tokens=1, temperature=0.0, ignore_eos=True)
times = {k: [] for k in libs}
for rnd in range(int(sys.argv[5]) if len(sys.argv) > 5 else 15):
    for name, lib in libs.items():
        cpu_kernel.library = lambda lib=lib: lib
        d = Decoder(lm, max_batch=rows, max_len=T + 2, seed=0)
        t = time.perf_counter()
        d.add_many([(p, params) for p in prompts])
        if rnd:
            times[name].append(time.perf_counter() - t)
for name, ts in times.items():
    print(f"{name}: median {rows*T/statistics.median(ts):.0f} tok/s, best {rows*T/min(ts):.0f}")
ratios = sorted(o / n for o, n in zip(times["old"], times["new"]))
print(f"old/new time per round: median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}")
