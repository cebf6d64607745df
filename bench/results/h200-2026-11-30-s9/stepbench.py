import torch, time, statistics, sys
from model.generate import Decoder
from model.sampling import SamplingParams
from bench.decode import build_models
torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
for B in [int(b) for b in sys.argv[1].split(",")]:
    decs = {}
    for fused in (True, False):
        dec = Decoder(lm, max_batch=B, max_len=512, seed=0)
        if not fused: dec.fused = None
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
    print(f"B={B} fused {f:.2f} ms ({B/f*1e3:.1f} tok/s) torch {t:.2f} ms ({B/t*1e3:.1f} tok/s) ratio {t/f:.2f}x  spread fused {min(res[True]):.1f}-{max(res[True]):.1f} torch {min(res[False]):.1f}-{max(res[False]):.1f}", flush=True)
