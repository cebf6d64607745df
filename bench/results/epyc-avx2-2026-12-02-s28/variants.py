"""GPT-2's 49 products at `rows` (argv[1]) through builds of the kernel in /tmp/s28/exp/v_*.so (variants of
cpu_panels.c's AVX2 group_sums compiled with -D macros: the one-row prefetch on or off, one pass a step or four for
two to four rows, the span of 64 steps for up to six rows), alternated with the plain kernel in argv[2] rounds.
The variants' source was this session's cpu_panels.c with the policy lines replaced by those macros; the chosen
ones are what 2a339d3 holds (PERFORMANCE.md, "panels on a CPU without AVX-512")."""
import glob, statistics, sys, time, torch
from model import cpu_kernel
from model.panels import panels_of
torch.set_num_threads(2); torch.manual_seed(0)
shapes = [(2304, 768), (768, 768), (3072, 768), (768, 3072)] * 12 + [(50257, 768)]
ws = [torch.randn(o, i) * 0.02 for o, i in shapes]; ps = [panels_of(w) for w in ws]
rows = int(sys.argv[1]); libs = {p.split('/')[-1]: cpu_kernel.load(p) for p in sorted(glob.glob('/tmp/s28/exp/v_*.so'))}
libs["plain"] = None
xs = {768: torch.randn(rows, 768), 3072: torch.randn(rows, 3072)}
def run(lib):
    for p, w in zip(ps, ws):
        y = torch.empty(rows, w.shape[0]); x = xs[w.shape[1]]
        if lib is None:
            cpu_kernel.library().skinny_linear(x.data_ptr(), w.data_ptr(), None, y.data_ptr(), rows, w.shape[1], w.shape[0], 0, 2)
        else:
            lib.skinny_linear_panels(x.data_ptr(), p.data_ptr(), None, y.data_ptr(), rows, w.shape[1], w.shape[0], 0, 2)
times = {k: [] for k in libs}
for r in range(int(sys.argv[2])):
    for k, lib in (list(libs.items()) if r % 2 == 0 else list(libs.items())[::-1]):
        t = time.perf_counter(); run(lib); times[k].append((time.perf_counter() - t) * 1e3)
for k, v in times.items():
    print(f"{k:32s} {statistics.median(v):8.2f} ({min(v):.2f}-{max(v):.2f})")
