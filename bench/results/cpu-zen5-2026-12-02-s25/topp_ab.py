"""sample() at 16 rows, temperature 0.8, top_p 0.95 (random logits x 3), model/sampling.py against another copy of it
(argv[1], "before"), alternated 5 times; ms a call, medians of 50. Session 25."""
import sys, time, statistics, torch, importlib.util
torch.set_num_threads(2)
spec = importlib.util.spec_from_file_location("model.sampling_alt", sys.argv[1]); alt = importlib.util.module_from_spec(spec); sys.modules["model.sampling_alt"] = alt; spec.loader.exec_module(alt)
import model.sampling as cur
B, V = 16, 50304
logits = torch.randn(B, V) * 3
res = {"before": [], "after": []}
for rep in range(5):
    for name, mod in (("before", alt), ("after", cur)):
        bs = mod.BatchSampling([mod.SamplingParams(temperature=0.8, top_p=0.95)] * B, [None] * B, torch.device("cpu"))
        rng = torch.Generator().manual_seed(0)
        ts = []
        for i in range(60):
            t = time.perf_counter(); mod.sample(logits, bs, rng); ts.append(time.perf_counter() - t)
        res[name].append(1e3 * statistics.median(ts[10:]))
print({k: [round(x, 3) for x in v] for k, v in res.items()})
