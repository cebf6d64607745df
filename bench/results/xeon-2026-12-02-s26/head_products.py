"""The head's product alone, GPT-2 124M's shape (50,304 x 768, random weights in panels): fp32, bf16 weights widened
to fp32 (AVX-512), bf16 pairs by vdpbf16ps (AVX512-BF16), at 1, 16 and 32 rows; ms a call, medians of 21 alternated."""
import time, torch, statistics
from model import cpu_kernel
from model.panels import panels_of
torch.manual_seed(0)
V, C = 50304, 768
w = torch.randn(V, C) * 0.02
p32 = panels_of(w); p16 = panels_of(w.bfloat16())
for rows in (1, 16, 32):
    x = torch.randn(rows, C)
    xb = x.bfloat16()
    res = {"fp32": [], "bf16wide": [], "bf16pairs": []}
    for _ in range(21):
        for name, f in (("fp32", lambda: cpu_kernel.panel_linear(x, p32, None, V, None)),
                        ("bf16wide", lambda: cpu_kernel.panel_linear(x, p16, None, V, None)),
                        ("bf16pairs", lambda: cpu_kernel.panel_linear(xb, p16, None, V, None))):
            t = time.perf_counter(); f(); res[name].append(time.perf_counter() - t)
    print(rows, {k: round(statistics.median(v) * 1e3, 2) for k, v in res.items()})
