import sys, statistics, torch
from bench.decode import build_models, run_ours
torch.set_num_threads(2)
dtype = getattr(torch, sys.argv[1]); q = sys.argv[2] if len(sys.argv) > 2 else "none"
lm, hf = build_models("124M", torch.device("cpu"), dtype, q)
out = []
for B in (1, 16):
    g = torch.Generator().manual_seed(B)
    prompts = torch.randint(0, 50256, (B, 32), generator=g).tolist()
    run_ours(lm, prompts, 4)
    steps = []
    for _ in range(3):
        steps += run_ours(lm, prompts, 64)[1]
    out.append(f"B{B} {1e3*statistics.median(steps):.2f}")
print(" ".join(out))
