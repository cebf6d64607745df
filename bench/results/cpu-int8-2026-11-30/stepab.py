"""Decode-step medians of the C step and PyTorch's, one process; argv: batch sizes, quantize, dtype."""
import torch, time, statistics, sys, os
from model.generate import Decoder
from model.sampling import SamplingParams
from bench.decode import build_models
torch.set_num_threads(int(os.environ.get("THREADS", 2)))
sizes, quantize, dtype = sys.argv[1], sys.argv[2], getattr(torch, sys.argv[3])
lm, _ = build_models("124M", torch.device("cpu"), dtype, quantize)
for B in [int(b) for b in sizes.split(",")]:
    decs = {}
    for fused in (True, False):
        dec = Decoder(lm, max_batch=B, max_len=512, seed=0)
        if not fused: dec.fused = None
        else: dec.fused.faster = (True,) * len(dec.fused.faster)
        decs[fused] = dec
    res = {True: [], False: []}
    for rep in range(4):
        for fused, dec in decs.items():
            for b in range(B):
                dec.add(list(range(b, 32 + b)), SamplingParams(max_tokens=33, temperature=0, ignore_eos=True))
            ts = []
            while dec.running:
                t = time.perf_counter(); dec.step(); ts.append(time.perf_counter() - t)
            res[fused].append(statistics.median(ts) * 1e3)
    f, t = statistics.median(res[True]), statistics.median(res[False])
    print(f"{os.environ.get('TAG','')} B={B} C {f:.2f} ms ({B/f*1e3:.1f} tok/s) torch {t:.2f} ms ratio {t/f:.2f}x spread C {min(res[True]):.2f}-{max(res[True]):.2f} torch {min(res[False]):.2f}-{max(res[False]):.2f}", flush=True)
