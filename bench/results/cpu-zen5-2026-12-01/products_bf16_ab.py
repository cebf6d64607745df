import ctypes, torch, time, statistics, sys
torch.set_num_threads(2)
libs = {n: ctypes.CDLL(f"/tmp/s14/pf/{n}.so") for n in sys.argv[1].split(",")}
R = int(sys.argv[2])
shapes = [(2304,768),(768,768),(3072,768),(768,3072)]*12 + [(50257,768)]
ws = [(torch.randn(n,k)*0.02).bfloat16() for n,k in shapes]
xs = {768: torch.randn(R,768), 3072: torch.randn(R,3072)}
ys = [torch.empty(R,n) for n,k in shapes]
def run(lib):
    f = lib.skinny_linear_bf16
    t = time.perf_counter()
    for w, y in zip(ws, ys):
        f(ctypes.c_void_p(xs[w.shape[1]].data_ptr()), ctypes.c_void_p(w.data_ptr()), None, ctypes.c_void_p(y.data_ptr()),
          ctypes.c_long(R), ctypes.c_long(w.shape[1]), ctypes.c_long(w.shape[0]), 0, 2)
    return time.perf_counter() - t
res = {n: [] for n in libs}
for _ in range(12):
    for n, l in libs.items():
        res[n].append(run(l))
for n in libs:
    m = statistics.median(res[n]); print(f"bf16 rows {R} {n}: {1e3*m:.2f} ms ({min(res[n])*1e3:.2f}-{max(res[n])*1e3:.2f})")
