"""Prefill on one core while the C step decodes 16 rows on the other: each alone with 2 threads, each alone with
1, then both at once (1 thread each). PYTHONPATH=. python overlap.py"""
import threading, time, statistics, torch
from bench.decode import build_models
from model.cpu_step import FusedDecode
from model.kv_cache import KVCache
lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
model = lm.model
P = 192  # decode positions as in bench.serve's waves
dcache = KVCache(model.config, 16, 1024, "cpu", torch.float32)
pcache = KVCache(model.config, 2, 1024, "cpu", torch.float32)
fused = FusedDecode.build(model, dcache)
dec_in = torch.tensor([[5, P]] * 16)
pre_idx = torch.randint(0, 50000, (2, 128)); pre_pos = torch.arange(128)[None].expand(2, 128)
def step(threads):
    t = time.perf_counter(); fused.run(dec_in); return time.perf_counter() - t
def prefill():
    t = time.perf_counter()
    model.forward_cached(pre_idx, pre_pos, pcache.rows(0, 2), 128, start=0)
    return time.perf_counter() - t
def med(f, n): f(); return statistics.median(f() for _ in range(n)) * 1e3
with torch.inference_mode():
    for threads in (2, 1):
        torch.set_num_threads(threads)
        print(f"{threads} threads: step {med(lambda: step(threads), 15):.1f} ms, prefill 2x128 {med(prefill, 5):.1f} ms", flush=True)
    torch.set_num_threads(1)
    stop = False; steps = []
    def decoder():
        torch.set_num_threads(1)
        print('decoder thread sees', torch.get_num_threads(), 'thread(s)', flush=True)
        with torch.inference_mode():
            while not stop: steps.append(step(1))
    th = threading.Thread(target=decoder); th.start()
    pre = [prefill() for _ in range(6)]
    stop = True; th.join()
    print(f"together, 1 thread each: step {statistics.median(steps)*1e3:.1f} ms ({len(steps)} steps), prefill {statistics.median(pre)*1e3:.1f} ms", flush=True)
