"""GPT-2 124M's 49 products through skinny_linear (fp32) or skinny_linear_bf16 of several builds of
model/cpu_kernel.c, alternated: python products_ab.py /path/a.so,/path/b.so ROWS [float32|bfloat16]."""
import ctypes
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
libs = {name: ctypes.CDLL(name) for name in sys.argv[1].split(",")}
R = int(sys.argv[2])
bf16 = len(sys.argv) > 3 and sys.argv[3] == "bfloat16"
shapes = [(2304, 768), (768, 768), (3072, 768), (768, 3072)] * 12 + [(50257, 768)]
ws = [torch.randn(n, k) * 0.02 for n, k in shapes]
ws = [w.bfloat16() for w in ws] if bf16 else ws
xs = {768: torch.randn(R, 768), 3072: torch.randn(R, 3072)}
ys = [torch.empty(R, n) for n, k in shapes]


def run(lib):
    f = lib.skinny_linear_bf16 if bf16 else lib.skinny_linear
    t = time.perf_counter()
    for w, y in zip(ws, ys):
        f(ctypes.c_void_p(xs[w.shape[1]].data_ptr()), ctypes.c_void_p(w.data_ptr()), None,
          ctypes.c_void_p(y.data_ptr()), ctypes.c_long(R), ctypes.c_long(w.shape[1]), ctypes.c_long(w.shape[0]), 0, 2)
    return time.perf_counter() - t


res = {name: [] for name in libs}
for _ in range(12):
    for name, lib in libs.items():
        res[name].append(run(lib))
flops = sum(2 * R * n * k for n, k in shapes)
for name in libs:
    m = statistics.median(res[name])
    print(f"{'bf16 ' if bf16 else ''}rows {R} {name}: {1e3 * m:.2f} ms ({min(res[name]) * 1e3:.2f}-"
          f"{max(res[name]) * 1e3:.2f}) {flops / m / 1e9:.0f} GFLOP/s")
