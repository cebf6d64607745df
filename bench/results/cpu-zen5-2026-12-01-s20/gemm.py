import ctypes, time, torch, statistics
torch.set_num_threads(2)
lib = ctypes.CDLL('/tmp/pk/libpacked.so')
PW = 64
def pack(w):
    out, inn = w.shape
    panels = (out + PW - 1) // PW
    wp = torch.zeros(panels * PW, inn); wp[:out] = w
    return wp.view(panels, PW, inn).transpose(1, 2).contiguous()
shapes = [(2304, 768), (768, 768), (3072, 768), (768, 3072)] * 12 + [(50257, 768)]
W = [torch.randn(o, i) * 0.02 for o, i in shapes]
P = [pack(w) for w in W]
def run_packed(x, rows):
    for w, p in zip(W, P):
        o, i = w.shape
        y = torch.empty(rows, o)
        xi = x[:, :i].contiguous() if i != x.shape[1] else x
        lib.product_packed_par(ctypes.c_void_p(xi.data_ptr()), ctypes.c_void_p(p.data_ptr()), None, ctypes.c_void_p(y.data_ptr()), ctypes.c_long(rows), ctypes.c_long(i), ctypes.c_long(o), 0, 0)
def run_torch(x, rows):
    for w in W:
        i = w.shape[1]
        torch.nn.functional.linear(x[:, :i], w)
def run_onednn(x, rows):
    for w in W:
        i = w.shape[1]
        torch.ops.mkldnn._linear_pointwise(x[:, :i].contiguous(), w, None, "none", [], "")
for rows in (64, 128, 512):
    x = torch.randn(rows, 3072)
    # check
    y = torch.empty(rows, 2304); xi = x[:, :768].contiguous()
    lib.product_packed_par(ctypes.c_void_p(xi.data_ptr()), ctypes.c_void_p(P[0].data_ptr()), None, ctypes.c_void_p(y.data_ptr()), rows, 768, 2304, 0, 0)
    err = (y - xi @ W[0].T).abs().max().item()
    ts = {k: [] for k in ("packed", "torch", "onednn")}
    for rep in range(5):
        for k, f in (("packed", run_packed), ("torch", run_torch), ("onednn", run_onednn)):
            t0 = time.perf_counter(); f(x, rows); ts[k].append(time.perf_counter() - t0)
    print(rows, f"err {err:.1e}", {k: f"{statistics.median(v)*1e3:.1f} ms" for k, v in ts.items()})
