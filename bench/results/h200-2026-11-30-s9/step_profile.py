"""The batch-1 decode step on the GPU: graph step time, and the eager step's kernels (count, time) by name."""
import statistics, time, torch
from torch.profiler import profile, ProfilerActivity
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
lm, _ = build_models("124M", torch.device("cuda"), torch.bfloat16)
for graphs in (True, False):
    dec = Decoder(lm, max_batch=1, max_len=1024, seed=0, cuda_graphs=graphs)
    dec.add(list(range(128)), SamplingParams(max_tokens=400, temperature=0, ignore_eos=True))
    ts = []
    for _ in range(100):
        torch.cuda.synchronize(); t = time.perf_counter(); dec.step(); ts.append(time.perf_counter() - t)
    print("graphs" if graphs else "eager", "step median ms", round(1e3 * statistics.median(ts), 3), flush=True)
    if graphs:
        g = dec.graphs
        # the replay alone, no host work: CUDA events around it
        idx = torch.zeros(1, 1, dtype=torch.long, device="cuda"); pos = torch.full((1, 1), 200, device="cuda")
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
        rs = []
        for _ in range(50):
            ev[0].record(); g.run(idx, pos, 201); ev[1].record(); ev[1].synchronize(); rs.append(ev[0].elapsed_time(ev[1]))
        print("graph replay alone ms", round(statistics.median(rs), 3), flush=True)
        continue
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            dec.step()
        torch.cuda.synchronize()
    kern = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    print("kernels per step", len(kern) / 10, "GPU busy per step ms", round(sum(e.device_time for e in kern) / 10 / 1e3, 3))
    by = {}
    for e in kern:
        n, t = by.get(e.name, (0, 0.0)); by[e.name] = (n + 1, t + e.device_time)
    for name, (n, t) in sorted(by.items(), key=lambda kv: -kv[1][1])[:25]:
        print(f"{n/10:6.1f}/step {t/10:8.1f} us/step  {t/n:6.2f} us each  {name[:110]}")
