"""Engine in process (no HTTP), 16 client threads x R rounds, prompt 128, output 128, greedy: output tok/s, and where
a burst's time goes: each engine call (add_many: prefill; step: decode) timed with its row count."""
import sys, threading, time, statistics
sys.path.insert(0, ".")
import torch
torch.set_num_threads(2)
from bench.decode import build_models
from model.loader import place_model
from model.sampling import SamplingParams
from engine.engine import Engine
lm, hf = build_models("124M", torch.device("cpu"), torch.float32); del hf
place_model(lm.model, lm.device, lm.dtype, panels=True)
prompt = torch.randint(0, 50256, (128,), generator=torch.Generator().manual_seed(1)).tolist()
eng = Engine(lm, max_batch=16)
log = []
dec = eng.decoder
orig_step, orig_add = dec.step, dec.add_many
def step():
    rows = len(dec.running); t = time.perf_counter(); out = orig_step(); log.append(("step", rows, t, time.perf_counter())); return out
def add_many(reqs):
    t = time.perf_counter(); out = orig_add(reqs); log.append(("add", len(reqs), t, time.perf_counter())); return out
dec.step, dec.add_many = step, add_many
params = SamplingParams(max_tokens=128, temperature=0.0, ignore_eos=True)
def client(rounds):
    for _ in range(rounds):
        req = eng.submit([prompt], [params])
        for _ in req.outputs():
            pass
def engine_run(rounds):
    log.clear()
    ts = [threading.Thread(target=client, args=(rounds,)) for _ in range(16)]
    t0 = time.perf_counter(); [x.start() for x in ts]; [x.join() for x in ts]; T = time.perf_counter() - t0
    steps = [e for e in log if e[0] == "step"]; adds = [e for e in log if e[0] == "add"]
    full = [e[3] - e[2] for e in steps if e[1] == 16]
    busy = sum(e[3] - e[2] for e in log)
    part = [e for e in steps if e[1] < 16]
    return dict(rounds=rounds, tok_s=16 * rounds * 128 / T, T=T, busy=busy, idle=T - busy, adds=len(adds),
                add_s=sum(e[3] - e[2] for e in adds), steps=len(steps), full_med_ms=1e3 * statistics.median(full),
                part=len(part), part_s=sum(e[3] - e[2] for e in part), part_rows=sum(e[1] for e in part))
engine_run(1)
for _ in range(3):
    for r in (2, 6):
        d = engine_run(r)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items()), flush=True)
eng.stop()
