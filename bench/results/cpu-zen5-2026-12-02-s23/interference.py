"""Session 23: 16-row Decoder steps in process (GPT-2 124M, fp32, panels as served), alone and beside a process that
wakes every 20 ms and spins for `busy` ms, as the server's SSE writes and the client take the step's cores; 3 rounds."""
import multiprocessing as mp, statistics, sys, time
sys.path.insert(0, ".")  # run from the repository root

def burner(busy_ms, stop):
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < busy_ms / 1e3:
            pass
        time.sleep(max(0.0, 0.020 - busy_ms / 1e3))

def main():
    import torch
    torch.set_num_threads(2)
    from bench.decode import build_models
    from model.generate import Decoder
    from model.loader import place_model
    from model.sampling import SamplingParams
    lm, hf = build_models("124M", torch.device("cpu"), torch.float32); del hf
    place_model(lm.model, lm.device, lm.dtype, panels=True)
    prompts = torch.randint(0, 50256, (16, 64), generator=torch.Generator().manual_seed(0)).tolist()
    def steps(n=40):
        d = Decoder(lm, max_batch=16, max_len=64 + n + 2, seed=0)
        d.add_many([(p, SamplingParams(max_tokens=n + 1, temperature=0.0, ignore_eos=True)) for p in prompts])
        out = []
        for _ in range(n):
            t = time.perf_counter(); d.step(); out.append(time.perf_counter() - t)
        return statistics.median(out) * 1e3
    steps(5)
    ctx = mp.get_context("fork")
    for rnd in range(3):
        row = []
        for busy in (0, 1, 2, 4):
            stop = ctx.Event(); procs = []
            if busy:
                procs = [ctx.Process(target=burner, args=(busy, stop)) for _ in range(1)]
                [p.start() for p in procs]; time.sleep(0.2)
            row.append(f"busy {busy} ms/20: {steps():.2f}")
            stop.set(); [p.join() for p in procs]
        print(" | ".join(row), flush=True)

if __name__ == "__main__":
    main()
