import time, statistics, torch
from torch.nn import functional as F
torch.set_num_threads(2)
B, V = 16, 50304
logits = torch.randn(B, V) * 3
g = torch.Generator().manual_seed(0)
def t(name, fn, n=40):
    ts = []
    for _ in range(n):
        a = time.perf_counter(); fn(); ts.append(time.perf_counter() - a)
    print(f"{name:40s} {1e3*statistics.median(ts[5:]):.3f} ms")
probs = F.softmax(logits, -1)
t("softmax", lambda: F.softmax(logits, -1))
t("exponential_ (B,V) generator", lambda: torch.empty_like(probs).exponential_(generator=g))
t("exponential_ (B,V) default", lambda: torch.empty_like(probs).exponential_())
t("rand (B,V) generator", lambda: torch.rand(B, V, generator=g))
t("rand+log", lambda: torch.rand(B, V, generator=g).log_().neg_())
t("argmax(probs/q)", lambda: torch.argmax(probs / probs, -1))
t("topk V", lambda: torch.topk(logits, V, dim=-1))
t("sort", lambda: torch.sort(logits, dim=-1, descending=True))
t("topk 1024", lambda: torch.topk(logits, 1024, dim=-1))
t("cumsum", lambda: probs.cumsum(-1))
t("multinomial", lambda: torch.multinomial(probs, 1, generator=g))
u = torch.rand(B, 1, generator=g)
t("cumsum+searchsorted", lambda: torch.searchsorted(probs.cumsum(-1), u))
