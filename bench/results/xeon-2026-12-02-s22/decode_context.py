"""Session 22: our Decoder's fp32 step at 16 rows with 32, 192 and 448 positions behind each row (the KV cache read
by attention grows with them), from panels as the server holds them; argv[1] "bfloat16" for a bf16 KV cache."""
import sys, statistics, torch
sys.path.insert(0, ".")
torch.set_num_threads(2)
from bench.decode import build_models, run_ours
from model.loader import place_model
kv = sys.argv[1] if len(sys.argv) > 1 else "auto"
lm, hf = build_models("124M", torch.device("cpu"), torch.float32); del hf
place_model(lm.model, lm.device, lm.dtype, panels=True)
if kv == "bfloat16": lm.kv_dtype = torch.bfloat16
for rep in range(3):
    row = []
    for L in (32, 192, 448):
        p = torch.randint(0, 50256, (16, L), generator=torch.Generator().manual_seed(L)).tolist()
        _, steps, _ = run_ours(lm, p, 17)
        row.append(f"ctx {L}: {1e3*statistics.median(steps):.1f} ms")
    print(kv, " | ".join(row), flush=True)
