"""Session 22: the CPU time of bench/loadgen.py's client (one process, 16 streams of 128 tokens) per SSE event, against
a gunicorn server of the 3M model started as bench.serve starts it: python client_cpu.py 3M 16"""
import argparse, resource, sys, tempfile, time, torch
sys.path.insert(0, ".")
from pathlib import Path
from bench.decode import build_models, write_checkpoint
from bench.serve import start_server, KEY
from bench.loadgen import worker
def main():
    torch.set_num_threads(2)
    size, c = sys.argv[1], int(sys.argv[2])
    lm, hf = build_models(size, torch.device("cpu"), torch.float32); del hf
    tmp = Path(tempfile.mkdtemp()); write_checkpoint(lm, tmp / "m.pt"); del lm
    ns = argparse.Namespace(device="cpu", quantize="none", kv_cache_dtype="auto")
    proc, url = start_server(tmp / "m.pt", ns, c, tmp / "log")
    prompt = torch.randint(0, 50256, (128,), generator=torch.Generator().manual_seed(1)).tolist()
    body = {"model": "m.pt", "max_tokens": 128, "ignore_eos": True, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {KEY}"}
    worker(url, headers, [{**body, "prompt": [1] + prompt[1:]}], 1)  # warm
    for rounds in (2, 4):
        bodies = [{**body, "prompt": [i] + prompt[1:]} for i in range(c * rounds)]
        r0 = resource.getrusage(resource.RUSAGE_SELF); t = time.time()
        out = worker(url, headers, bodies, c)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        events = sum(len(o["chunks"]) for o in out)
        print(f"c={c} rounds={rounds}: wall {time.time()-t:.1f} s, client cpu {cpu:.2f} s for {events} events: {1e6*cpu/events:.0f} us/event")
    proc.terminate(); proc.wait(50)
if __name__ == "__main__":
    main()
