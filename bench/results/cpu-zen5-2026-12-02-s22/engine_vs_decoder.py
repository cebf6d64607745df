"""Engine in process (no HTTP) against the Decoder alone, 16 streams x 2 rounds, prompt 128, output 128."""
import sys, threading, time, statistics
sys.path.insert(0, ".")
import torch
torch.set_num_threads(2)
from bench.decode import build_models, run_ours
from model.loader import place_model
from model.sampling import SamplingParams
from engine.engine import Engine
lm, hf = build_models("124M", torch.device("cpu"), torch.float32); del hf
place_model(lm.model, lm.device, lm.dtype, panels=True)
prompt = torch.randint(0, 50256, (128,), generator=torch.Generator().manual_seed(1)).tolist()
pt = int(sys.argv[1]) if len(sys.argv) > 1 else 0
eng = Engine(lm, max_batch=16, prefill_tokens=pt)
params = SamplingParams(max_tokens=128, temperature=0.0, ignore_eos=True)
def client(rounds, out):
    for _ in range(rounds):
        req = eng.submit([prompt], [params])
        n = sum(1 for o in req.outputs())
        out.append(n)
def engine_run(rounds=2):
    out = []; ts = [threading.Thread(target=client, args=(rounds, out)) for _ in range(16)]
    t = time.perf_counter(); [x.start() for x in ts]; [x.join() for x in ts]
    return 16 * rounds * 128 / (time.perf_counter() - t)
def decoder_run():
    pre, steps, _ = run_ours(lm, [prompt] * 16, 128)
    return 16 * 128 / (pre + sum(steps))
engine_run(1); decoder_run()
e, d = [], []
for _ in range(3):
    e.append(engine_run()); d.append(decoder_run())
print(f"prefill_tokens {eng.prefill_tokens}: engine {statistics.median(e):.1f} tok/s {[round(x) for x in e]}, decoder {statistics.median(d):.1f} {[round(x) for x in d]}")
eng.stop()
