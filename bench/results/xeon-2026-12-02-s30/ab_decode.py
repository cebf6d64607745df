"""Decode steps of `rows` rows with two builds of the kernel (a Decoder each, its fused step bound to its build),
alternated step by step in one process: medians and the ratio."""
import sys, time, statistics, torch
from bench.decode import build_models
from model import cpu_kernel
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
rows, dt, old_so, n = int(sys.argv[1]), getattr(torch, sys.argv[2]), sys.argv[3], int(sys.argv[4])
lm, hf = build_models("124M", torch.device("cpu"), dt, panels=True)
del hf
libs = {"new": cpu_kernel.library(), "old": cpu_kernel.load(old_so)}
g = torch.Generator().manual_seed(1)
prompts = [torch.randint(0, 50000, (128,), generator=g).tolist() for _ in range(rows)]
params = SamplingParams(max_tokens=n + 2, temperature=0.0, ignore_eos=True)
decs = {}
for name, lib in libs.items():
    cpu_kernel.library = lambda lib=lib: lib
    decs[name] = Decoder(lm, max_batch=rows, max_len=128 + n + 4, seed=0)
    print(name, type(lm.model.lm_head).__name__, "fused", decs[name].fused is not None, "argmax head", getattr(decs[name].fused, "argmax_head", None) if hasattr(decs[name], "fused") else "?")
    decs[name].add_many([(p, params) for p in prompts])
times = {k: [] for k in libs}
for i in range(n):
    for name, d in decs.items():
        t = time.perf_counter(); d.step(); times[name].append(time.perf_counter() - t)
for name, ts in times.items():
    print(f"{name}: median {statistics.median(ts)*1e3:.1f} ms, best {min(ts)*1e3:.1f}")
r = sorted(o / n for o, n in zip(times["old"], times["new"]))
print(f"old/new per step: median {statistics.median(r):.3f}x, quartiles {r[len(r)//4]:.2f}-{r[3*len(r)//4]:.2f}")
toks = {name: [s.tokens for s in d.running] for name, d in decs.items()}
print("same tokens:", toks["old"] == toks["new"])
