"""CPU time per thread of our server while bench.serve's client sends 32 requests, 16 in flight, three times:
PYTHONPATH=. python cpuprof.py [ENV=VALUE ...] (extra environment for the server). Needs psutil."""
import argparse, os, sys, time, tempfile
from pathlib import Path
import torch
from bench.decode import build_models, write_checkpoint, N_VOCAB
from bench.serve import start_server, run_http
import psutil

def threads_cpu(pid):
    out = {}
    for p in [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True):
        for t in p.threads():
            try:
                name = open(f"/proc/{p.pid}/task/{t.id}/comm").read().strip()
            except OSError:
                name = "?"
            out[(p.pid, t.id, name)] = t.user_time + t.system_time
    return out

def main():
    args = argparse.Namespace(device="cpu", quantize="none", output_len=128, rounds=2, client_procs=2, prompt_len=128)
    torch.set_num_threads(2)
    lm, hf = build_models("124M", torch.device("cpu"), torch.float32)
    prompt = torch.randint(0, N_VOCAB - 1, (128,), generator=torch.Generator().manual_seed(1)).tolist()
    tmp = Path(tempfile.mkdtemp())
    write_checkpoint(lm, tmp / "m.pt")
    del lm, hf
    proc, url = start_server(tmp / "m.pt", args, 16, tmp / "server.log", **dict(e.split("=", 1) for e in sys.argv[1:]))
    try:
        run_http(url, "m.pt", prompt, argparse.Namespace(**{**vars(args), "rounds": 1, "output_len": 8}), 1, False)
        for rep in range(3):
            a = threads_cpu(proc.pid); t0 = time.time(); c0 = psutil.cpu_times()
            r = run_http(url, "m.pt", prompt, args, 16, False)
            b = threads_cpu(proc.pid); wall = time.time() - t0; c1 = psutil.cpu_times()
            d = {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0) > 0.05}
            busy = (c1.user + c1.system) - (c0.user + c0.system)
            print(f"tok/s {r['output_tok_s']:.1f} wall {wall:.2f}s machine busy {busy:.2f} cpu-s of {2*wall:.2f}")
            for k, v in sorted(d.items(), key=lambda kv: -kv[1]):
                print(f"   {k[2]:>16} {k[1]:>8} {v:6.2f} s  ({v/wall*100:4.0f}% of a core)")
    finally:
        os.killpg(proc.pid, 15); proc.wait(30)
        import shutil; shutil.rmtree(tmp)

if __name__ == '__main__':
    main()
