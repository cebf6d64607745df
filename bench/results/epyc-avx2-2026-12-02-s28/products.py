"""GPT-2 124M's 49 products (12 blocks of 4 and the head) per row count: the plain kernel (cpu_kernel.linear),
panels (cpu_kernel.panel_linear) and PyTorch's F.linear, alternated in rounds; medians and ranges, ms."""
import statistics, sys, time
import torch
import torch.nn.functional as F
from model import cpu_kernel
from model.panels import panels_of

torch.set_num_threads(2)
torch.manual_seed(0)
shapes = [(2304, 768), (768, 768), (3072, 768), (768, 3072)] * 12 + [(50257, 768)]
ws = [torch.randn(o, i) * 0.02 for o, i in shapes]
bs = [torch.zeros(o) for o, _ in shapes]
ps = [panels_of(w) for w in ws]
rows_list = [int(r) for r in (sys.argv[1] if len(sys.argv) > 1 else "1,8,16,32,128").split(",")]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7

def plain(x):  # the kernel up to 32 rows, PyTorch's product past them
    for w, b in zip(ws, bs):
        if cpu_kernel.linear(xs[w.shape[1]], w, b) is None:
            F.linear(xs[w.shape[1]], w, b)

def panels(x):
    for p, w, b in zip(ps, ws, bs):
        cpu_kernel.panel_linear(xs[w.shape[1]], p, b, w.shape[0])

def torch_linear(x):
    for w, b in zip(ws, bs):
        F.linear(xs[w.shape[1]], w, b)

sides = {"plain": plain, "panels": panels, "torch": torch_linear}
with torch.inference_mode():
    for rows in rows_list:
        xs = {768: torch.randn(rows, 768), 3072: torch.randn(rows, 3072)}
        times = {k: [] for k in sides}
        for f in sides.values():
            f(None)
        for r in range(rounds):
            for name, f in (sides.items() if r % 2 == 0 else reversed(sides.items())):
                t = time.perf_counter(); f(None); times[name].append((time.perf_counter() - t) * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"rows {rows:4d}: " + "  ".join(f"{k} {med[k]:8.2f} ({min(v):.2f}-{max(v):.2f})" for k, v in times.items())
              + f"   plain/panels {med['plain'] / med['panels']:.2f}x  torch/panels {med['torch'] / med['panels']:.2f}x", flush=True)
