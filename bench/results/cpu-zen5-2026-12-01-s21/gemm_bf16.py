import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, '/work/main')
from model import cpu_kernel
from model.panels import panels_of
torch.set_num_threads(2)
C = 768
shapes = [(3*C, C), (C, C), (4*C, C), (C, 4*C)] * 12 + [(50257, C)]
ws = [torch.randn(o, i).bfloat16() for o, i in shapes]
ps = [panels_of(w) for w in ws]
lib = cpu_kernel.library()
def run(rows, side):
    xs = {i: torch.randn(rows, i).bfloat16() for i in (C, 4*C)}
    t = time.perf_counter()
    for w, p in zip(ws, ps):
        x = xs[w.shape[1]]
        if side == 'onednn': F.linear(x, w)
        elif side == 'pairs': cpu_kernel.panel_linear(x, p, None, w.shape[0])
        else: cpu_kernel.panel_linear(x.float(), p, None, w.shape[0])
    return time.perf_counter() - t
for rows in [int(a) for a in sys.argv[1:]]:
    ts = {s: [] for s in ('onednn', 'pairs', 'wide')}
    for _ in range(5):
        for s in ts: ts[s].append(run(rows, s))
    print(rows, '  '.join(f"{s} {sorted(v)[2]*1e3:.1f} ms" for s, v in ts.items()), flush=True)
