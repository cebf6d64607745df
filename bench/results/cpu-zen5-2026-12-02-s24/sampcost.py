import time, statistics, torch
from model.sampling import BatchSampling, sample, SamplingParams
torch.set_num_threads(2)
B, V = 16, 50304
logits = torch.randn(B, V) * 3
for name, kw in [("greedy", dict(temperature=0.0)), ("t=1", dict(temperature=1.0)),
                 ("t=0.8 top_p=0.95", dict(temperature=0.8, top_p=0.95)), ("t=0.7 top_k=40", dict(temperature=0.7, top_k=40)),
                 ("t=1 min_p=0.05", dict(temperature=1.0, min_p=0.05))]:
    params = [SamplingParams(max_tokens=10, **kw) for _ in range(B)]
    bs = BatchSampling(params, [None] * B, torch.device("cpu"))
    rng = torch.Generator().manual_seed(0)
    ts = []
    for i in range(60):
        t = time.perf_counter(); sample(logits, bs, rng); ts.append(time.perf_counter() - t)
    print(f"{name:20s} {1e3*statistics.median(ts[10:]):.3f} ms")
