import logging, statistics, time
import torch
logging.basicConfig(level=logging.INFO, format="%(message).2000s")
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
lm, hf = build_models("124M", torch.device("cpu"), torch.float32)
params = SamplingParams(max_tokens=2, temperature=0.0, ignore_eos=True)
for T in (20, 32, 48, 128):
    ps = [torch.randint(0, 50256, (T,)).tolist()]
    def once():
        d = Decoder(lm, max_batch=1, max_len=T + 4, seed=0)
        t = time.perf_counter(); d.add_many([(p, params) for p in ps]); return time.perf_counter() - t
    for _ in range(2): once()
    ts = [once() for _ in range(8)]
    print(f"{T}: median {1e3*statistics.median(ts):.1f} ms -> {T/statistics.median(ts):.0f} tok/s", flush=True)
