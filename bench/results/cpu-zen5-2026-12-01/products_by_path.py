import ctypes, torch, time, statistics, sys
torch.set_num_threads(2)
from model import cpu_kernel
lib = cpu_kernel.library()
od = torch.ops.mkldnn._linear_pointwise
shapes = [(2304,768),(768,768),(3072,768),(768,3072)]*12
ws = [torch.randn(n,k)*0.02 for n,k in shapes]
bs = [torch.randn(n) for n,k in shapes]
R = int(sys.argv[1])
xs = {768: torch.randn(R,768), 3072: torch.randn(R,3072)}
ys = [torch.empty(R,n) for n,k in shapes]
def kern():
    for w, b, y in zip(ws, bs, ys):
        lib.skinny_linear(ctypes.c_void_p(xs[w.shape[1]].data_ptr()), ctypes.c_void_p(w.data_ptr()), ctypes.c_void_p(b.data_ptr()), ctypes.c_void_p(y.data_ptr()),
          ctypes.c_long(R), ctypes.c_long(w.shape[1]), ctypes.c_long(w.shape[0]), 0, 2)
def onednn():
    for w, b in zip(ws, bs): od(xs[w.shape[1]], w, b, "none", [], "")
def mkl():
    for w, b in zip(ws, bs): torch.nn.functional.linear(xs[w.shape[1]], w, b)
fns = dict(kernel=kern, onednn=onednn, mkl=mkl)
res = {n: [] for n in fns}
for _ in range(8):
    for n, f in fns.items():
        t = time.perf_counter(); f(); res[n].append(time.perf_counter() - t)
fl = sum(2*R*n*k for n,k in shapes)
for n in fns:
    m = statistics.median(res[n]); print(f"rows {R} {n}: {1e3*m:.2f} ms, {fl/m/1e9:.0f} GFLOP/s, {sum(w.numel()*4 for w in ws)/m/1e9:.0f} GB/s of weights")
