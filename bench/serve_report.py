"""bench.serve's result, read: a plot of output tok/s and TTFT against concurrency, and a table of the medians over
the runs, ours against the peer and llama-server run by run."""
from __future__ import annotations

import statistics
from pathlib import Path


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    http, local = result["http"], {r["batch"]: r for r in result["local"]}
    cs = [r["concurrency"] for r in http]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot(cs, [r["output_tok_s"] for r in http], "o-", label="ours, through HTTP")
    if any("model_only_output_tok_s" in local.get(c, {}) for c in cs):
        a.plot(cs, [local[c].get("model_only_output_tok_s") for c in cs], "s--", label="ours, model only")
    if any("peer_output_tok_s" in local.get(c, {}) for c in cs):
        a.plot(cs, [local[c].get("peer_output_tok_s") for c in cs], "^-", label="transformers generate")
        b.plot(cs, [local[c].get("peer_ttft_ms") for c in cs], "^-", label="transformers (prefill)")
    b.plot(cs, [r["ttft_ms_p50"] for r in http], "o-", label="ours, TTFT p50 via HTTP")
    if any("llama.cpp" in r for r in http):  # --peer llama.cpp
        kind = next(r["llama.cpp"]["type"] for r in http if "llama.cpp" in r)
        a.plot(cs, [r.get("llama.cpp", {}).get("output_tok_s") for r in http], "v-", label=f"llama.cpp {kind}, HTTP")
        b.plot(cs, [r.get("llama.cpp", {}).get("ttft_ms_p50") for r in http], "v-",
               label=f"llama.cpp {kind}, TTFT p50")
    for ax, title, unit in ((a, "output throughput", "tokens/s"), (b, "time to first token", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrency (peer: batch size)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(result["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def ratios(r: dict, of) -> str:
    """The median, and the range, of of(run) over a concurrency's runs: "1.74x (1.62-1.98)"."""
    values = [of(run) for run in r["runs"]]
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def summary(result: dict) -> None:
    """Medians over the runs; "vs peer" is the median of each HTTP run over the peer's run next to it."""
    local = {r["batch"]: r for r in result["local"]}
    print(result["title"])
    print(f"{'C':>4} {'tok/s':>8} {'req/s':>6} {'TTFT p50/p99 ms':>16} {'TPOT p50/p99':>13} {'ITL p50/p99':>12} "
          f"{'model-only tok/s':>16} {'peer tok/s':>10}  vs peer (range over {result['args']['repeats']} runs)")
    for r in result["http"]:
        lo = local.get(r["concurrency"], {})
        vs_peer = ratios(r, lambda run: run["vs_peer"]) if "vs_peer" in r else "-"
        print(f"{r['concurrency']:>4} {r['output_tok_s']:>8.1f} {r['req_s']:>6.2f} "
              f"{r['ttft_ms_p50']:>7.1f}/{r['ttft_ms_p99']:<8.1f} {r['tpot_ms_p50']:>6.2f}/{r['tpot_ms_p99']:<6.2f} "
              f"{r['itl_ms_p50']:>5.2f}/{r['itl_ms_p99']:<6.2f} {lo.get('model_only_output_tok_s', float('nan')):>16.1f} "
              f"{lo.get('peer_output_tok_s', float('nan')):>10.1f}  {vs_peer}")
        if "llama.cpp" in r:
            ll = r["llama.cpp"]
            print(f"     llama.cpp {ll['type']}: {ll['output_tok_s']:.1f} tok/s, TTFT p50/p99 {ll['ttft_ms_p50']:.1f}/"
                  f"{ll['ttft_ms_p99']:.1f} ms, TPOT p50/p99 {ll['tpot_ms_p50']:.2f}/{ll['tpot_ms_p99']:.2f} ms, "
                  f"failed {ll['failed']}; ours/llama.cpp tok/s "
                  f"{ratios(r, lambda run: run['output_tok_s'] / run['llama.cpp']['output_tok_s'])}")
        if "health_ms_p95" in r:
            print(f"     /health under load: p50 {r['health_ms_p50']:.1f} ms, p95 {r['health_ms_p95']:.1f} ms "
                  f"({r['health_polls']} polls); failed requests {r['failed']}")
