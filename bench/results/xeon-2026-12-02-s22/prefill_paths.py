"""Session 22: GPT-2 124M's four block products at prefill's row counts, fp32, three ways over the same weights:
the plain layout by PyTorch (F.linear: MKL or oneDNN), panels by model/cpu_panels.c, and panels by one batched
PyTorch product (a panel (in, 64) is an ordinary matrix). Alternated, 7 rounds, medians."""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, ".")
from model import cpu_kernel  # noqa: E402
from model.panels import panels_of  # noqa: E402

torch.set_num_threads(2)
C = 768
shapes = [(3 * C, C), (C, C), (4 * C, C), (C, 4 * C)]
ws = [torch.randn(o, i) * 0.02 for o, i in shapes]
ps = [panels_of(w) for w in ws]


def bmm(xs):
    return [torch.matmul(xs[w.shape[1]], p.view(p.shape[0], p.shape[1], 64)).transpose(0, 1)
            .reshape(xs[w.shape[1]].shape[0], -1)[:, :w.shape[0]] for w, p in zip(ws, ps)]


for rows in (64, 128, 256, 512, 2048):
    xs = {i: torch.randn(rows, i) for _, i in shapes}
    sides = {"plain": lambda: [F.linear(xs[w.shape[1]], w) for w in ws],
             "panels": lambda: [cpu_kernel.panel_linear(xs[w.shape[1]], p, None, w.shape[0]) for w, p in zip(ws, ps)],
             "bmm": lambda: bmm(xs)}
    for a, b in zip(sides["bmm"](), sides["plain"]()):
        assert torch.allclose(a, b, atol=1e-3)
    t = {k: [] for k in sides}
    for _ in range(7):
        for k, f in sides.items():
            t0 = time.perf_counter()
            f()
            t[k].append(time.perf_counter() - t0)
    flop = 2 * rows * sum(o * i for o, i in shapes)
    print(f"rows {rows:5}: " + ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms ({flop / statistics.median(v) / 1e9:.0f} GF/s, "
                                        f"{min(v) * 1e3:.2f}-{max(v) * 1e3:.2f})" for k, v in t.items()), flush=True)
