"""bench.serve's 16-stream load (32 requests, 16 in flight, prompt 128, output 128, greedy) on the Engine alone, no
HTTP: where the engine thread's time goes. PYTHONPATH=. python engine_wave.py [PREFIX_CACHE_MB]"""
import threading, time, collections, sys, torch
from bench.decode import build_models, N_VOCAB
from engine.engine import Engine
from model.sampling import SamplingParams
import importlib; G = importlib.import_module("model.generate")
PC = importlib.import_module("model.prefix_cache")

torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
acc = collections.defaultdict(float); cnt = collections.Counter()
def timed(cls, name, key):
    f = getattr(cls, name)
    def w(*a, **k):
        t = time.perf_counter(); r = f(*a, **k); acc[key] += time.perf_counter() - t; cnt[key] += 1; return r
    setattr(cls, name, w)
timed(G.Decoder, "add_many", "add_many (prefill+sample)")
timed(G.Decoder, "_prefill", "  _prefill")
timed(G.Decoder, "step", "step")
timed(G.Decoder, "_release", "  _release")
timed(PC.PrefixCache, "store", "    prefix store")
from model.cpu_step import FusedDecode
timed(FusedDecode, "run", "  fused.run")
timed(G.Decoder, "_sample", "  _sample")
timed(G.Decoder, "_emit", "  _emit")
rows = []
orig_run = FusedDecode.run
prompt = torch.randint(0, N_VOCAB - 1, (128,), generator=torch.Generator().manual_seed(1)).tolist()
eng = Engine(lm, max_batch=16, prefix_cache_mb=float(sys.argv[1]) if len(sys.argv) > 1 else 0)
params = SamplingParams(temperature=0, max_tokens=128, ignore_eos=True)
def run(n_total, conc):
    todo = list(range(n_total)); lock = threading.Lock()
    def client():
        while True:
            with lock:
                if not todo: return
                i = todo.pop()
            req = eng.submit([[i % (N_VOCAB - 1)] + prompt[1:]], [params])
            for _ in req.outputs(): pass
    ts = [threading.Thread(target=client) for _ in range(conc)]
    t = time.perf_counter()
    for th in ts: th.start()
    for th in ts: th.join()
    return time.perf_counter() - t
run(2, 1)
for rep in range(3):
    acc.clear(); cnt.clear()
    wall = run(32, 16)
    print(f"wall {wall:.2f} s  {32*128/wall:.0f} tok/s")
    for k, v in acc.items():
        print(f"   {k:28} {v:6.2f} s  x{cnt[k]}  ({v/cnt[k]*1e3:.2f} ms each)")
eng.stop(); eng.join(10)
