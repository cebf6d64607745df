"""The batch-1 decode step (C step, GPT-2 124M fp32, 32-token prompt, 64 steps) with each one-row reading order,
alternated in one process: PYTHONPATH=. python b1_ab.py"""
import statistics, torch
from bench.decode import build_models, run_ours
from model import cpu_kernel
torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
prompts = torch.randint(0, 50256, (1, 32), generator=torch.Generator().manual_seed(1)).tolist()
run_ours(lm, prompts, 4)
med = {False: [], True: []}
for rnd in range(6):
    for stream in (False, True) if rnd % 2 == 0 else (True, False):
        cpu_kernel.set_one_row_stream(stream)
        med[stream].append(1e3 * statistics.median(run_ours(lm, prompts, 64)[1]))
for stream, v in med.items():
    print(f"{'one after another' if stream else 'side by side     '}: " + " ".join(f"{t:.2f}" for t in v)
          + f"  median {statistics.median(v):.2f} ms")
