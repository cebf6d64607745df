# The EPYC bf16/fp32 step times quoted in PERFORMANCE.md: our Decoder alone, 4 alternated repeats, median step of 30.
import statistics, time, torch, sys
sys.path.insert(0, ".")  # run from the repository root
torch.set_num_threads(2)
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
models = {dt: build_models("124M", torch.device("cpu"), getattr(torch, dt))[0] for dt in ("float32", "bfloat16")}
res = {dt: {1: [], 8: []} for dt in models}
for rep in range(4):
    for dt in (list(models) if rep % 2 == 0 else list(models)[::-1]):
        for B in (1, 8):
            dec = Decoder(models[dt], max_batch=B)
            dec.add_many([([50 + i] * 32, SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)) for i in range(B)])
            ts = []
            for _ in range(32):
                t = time.perf_counter(); dec.step(); ts.append(time.perf_counter() - t)
            res[dt][B].append(1e3 * statistics.median(ts[2:]))
for dt in res:
    for B in (1, 8):
        v = res[dt][B]
        print(dt, B, f"median {statistics.median(v):.1f} ms/step ({min(v):.1f}-{max(v):.1f}) = {B * 1e3 / statistics.median(v):.1f} tok/s")
