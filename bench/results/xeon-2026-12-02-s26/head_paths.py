"""The head's product alone, GPT-2 124M's shape (50,304 x 768, random weights): from panels (fp32; bf16 pairs by
vdpbf16ps) against PyTorch's F.linear on the plain layout (fp32: MKL; bf16 in and out: oneDNN, AMX tiles where
the CPU has them), at 1, 16 and 32 rows; ms a call, medians of 21 alternated. Whether a bf16 estimate of the head
through AMX would serve B's 16 rows, where the panels' bf16 product is slower than their fp32 one."""
import statistics, time, torch
import torch.nn.functional as F
from model import cpu_kernel
from model.panels import panels_of
torch.manual_seed(0)
V, C = 50304, 768
w = torch.randn(V, C) * 0.02
w16 = w.bfloat16()
p32, p16 = panels_of(w), panels_of(w16)
for rows in (1, 16, 32):
    x = torch.randn(rows, C)
    x16 = x.bfloat16()
    sides = {"panels fp32": lambda: cpu_kernel.panel_linear(x, p32, None, V, None),
             "panels bf16 pairs": lambda: cpu_kernel.panel_linear(x16, p16, None, V, None),
             "F.linear fp32": lambda: F.linear(x, w),
             "F.linear bf16": lambda: F.linear(x16, w16)}
    res = {k: [] for k in sides}
    for i in range(21):
        for name, f in (list(sides.items()) if i % 2 else list(sides.items())[::-1]):
            t = time.perf_counter(); f(); res[name].append(time.perf_counter() - t)
    print(rows, {k: round(statistics.median(v) * 1e3, 2) for k, v in res.items()}, flush=True)
