"""Serving benchmark through HTTP, as `vllm bench serve` measures it, against transformers' generate, same weights.

    python -m bench.serve [--device cpu|cuda] [--concurrency 1,8,32,128] [--prompt-len 128] [--output-len 128]
                          [--size 124M|350M|3M] [--quantize int8] [--kv-cache-dtype bfloat16]
                          [--temperature 1 --top-p 0.95] [--url http://host:port] [--json F] [--plot F.png]

A GPT-2 124M-shaped model (or --size) is initialised at random (seed 0, vocab 50257) and written as a nanoGPT
checkpoint; a gunicorn + gevent server (gunicorn_config.py) is started on it with MAX_BATCH = the largest
concurrency, or --url targets a running server that serves `--model`. At each concurrency C, C * --rounds streamed
completions of --prompt-len random token ids and exactly --output-len tokens (ignore_eos) are sent with C in flight
(client processes of bench/loadgen.py), and TTFT, TPOT, ITL (p50/p99), output tokens/s and requests/s are computed
with vLLM's definitions (shared/research/openai_compat.md §4.2). C streams that start together finish about a
prefill chunk apart, so the last round ends with the batch emptying: a fixed cost of the run (16 streams on a 2-core
CPU measured ~7% less with two rounds than with six; PERFORMANCE.md, session 24). More rounds approach the steady
state, which is what `vllm bench serve`'s 1,000 prompts measure. /health is polled twice a second during the largest
concurrency. After each HTTP run, in this process and with the server idle, the same weights decode in transformers'
`generate` (KV cache, batch C, greedy unless --temperature: the peer) and in our Decoder without HTTP ("model only",
its weights held as the server holds them: int8, or panels where this CPU serves from them), so the server's own
overhead is the gap between the model-only and the HTTP figures. The three sides run --repeats times, alternated,
since a shared machine's load changes by the minute: each figure is the median of its runs, and "vs peer" the median
(and range) of each HTTP run's output tok/s over the peer's run next to it. --client-cpus 2,3 moves the client
processes off the cores this process (and so the server and the peer) runs on, as a LAN client would be.

    python -m bench.serve --peer llama.cpp[:f32|f16|q8_0] [--peer transformers,llama.cpp:q8_0] ...

also starts llama-server (bench/llama_cpp.py, CPU only) on a GGUF of the same weights, with --parallel = the
largest concurrency, its KV cache in --llama-cache-type (f16, its default, unless told) and no prompt cache (no
two prompts share a prefix anyway: see run_http), and at each concurrency drives it right after ours with the
same client, prompts and lengths; each HTTP result then holds a "llama.cpp" entry with the same fields.
--kv-cache-dtype sets our server's KV_CACHE_DTYPE.
Without "transformers" in --peer, the in-process transformers peer is left out.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

from bench.decode import build_models, run_hf, run_ours, write_checkpoint, N_VOCAB, SIZES
from bench.loadgen import poll_health, wait_together, worker
from bench.serve_report import plot, summary
from model.loader import place_model

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-key"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def start_server(ckpt: Path, args, max_batch: int, log: Path, **env: str) -> tuple[subprocess.Popen, str]:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, "HOST": "127.0.0.1", "PORT": str(port),
           "MODEL_DIR": str(ckpt.parent), "MODEL_CHECKPOINT": str(ckpt), "MY_API_KEY": KEY,
           "DEVICE": args.device, "MAX_BATCH": str(max_batch), "MAX_QUEUE": str(4 * max_batch),
           "QUANTIZE": args.quantize, "KV_CACHE_DTYPE": args.kv_cache_dtype, "GUNICORN_ACCESSLOG": "/dev/null",
           "LOG_LEVEL": "warning", **env}
    # gunicorn's own entry point, run by this interpreter (its script may live off PATH, e.g. pip --target)
    cmd = [sys.executable, "-c", "from gunicorn.app.wsgiapp import run; run()", "-c", "gunicorn_config.py",
           "web.app:app"]
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def run_http(url: str, model: str, prompt: list[int], args, c: int, health: bool, first: int,
             close_connections: bool = False) -> dict:
    """c * args.rounds requests, c in flight; the i-th one's prompt starts with token first + i (see below)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if close_connections:  # --peer llama.cpp: see start_llama_server
        headers["Connection"] = "close"
    body = {"model": model, "prompt": prompt, "max_tokens": args.output_len, "ignore_eos": True,
            "temperature": args.temperature, "top_p": args.top_p, "stream": True,
            "stream_options": {"include_usage": True}}
    # one first token per request of the whole benchmark (the caller counts them): no two prompts share a prefix,
    # so the prefix cache (on by default) saves no prefill here, and llama-server, run without its prompt cache,
    # is on the same footing
    bodies = [{**body, "prompt": [(first + i) % (N_VOCAB - 1)] + prompt[1:]} for i in range(c * args.rounds)]
    procs = max(1, min(args.client_procs, c // 16))
    shares = [bodies[i::procs] for i in range(procs)]
    threads = [math.ceil(c / procs)] * procs
    stop = threading.Event()
    health_lat: list[float] = []
    poller = threading.Thread(target=lambda: health_lat.extend(poll_health(url, stop)), daemon=True)
    if health:
        poller.start()
    spawn = mp.get_context("spawn")
    with spawn.Pool(procs, initializer=wait_together, initargs=(spawn.Barrier(procs), args.client_cpus)) as pool:
        parts = pool.starmap(worker, [(url, headers, s, t) for s, t in zip(shares, threads)])
    stop.set()
    if health:
        poller.join()
    reqs = [r for part in parts for r in part]
    ok = [r for r in reqs if r["error"] is None and r["chunks"]]
    duration = max(r["end"] for r in ok) - min(r["start"] for r in reqs)
    ttft = [r["chunks"][0] for r in ok]
    tpot = [(r["chunks"][-1] - r["chunks"][0]) / (r["tokens"] - 1) for r in ok if r["tokens"] > 1]
    itl = [b - a for r in ok for a, b in zip(r["chunks"], r["chunks"][1:])]
    out_tokens = sum(r["tokens"] for r in ok)
    res = {"concurrency": c, "requests": len(reqs), "failed": len(reqs) - len(ok), "duration_s": duration,
           "output_tok_s": out_tokens / duration, "req_s": len(ok) / duration,
           "ttft_ms_p50": 1e3 * pct(ttft, 50), "ttft_ms_p99": 1e3 * pct(ttft, 99),
           "tpot_ms_p50": 1e3 * pct(tpot, 50), "tpot_ms_p99": 1e3 * pct(tpot, 99),
           "itl_ms_p50": 1e3 * pct(itl, 50), "itl_ms_p99": 1e3 * pct(itl, 99),
           "errors": sorted({r["error"] for r in reqs if r["error"]})[:3]}
    if health:
        res["health_ms_p50"], res["health_ms_p95"] = 1e3 * pct(health_lat, 50), 1e3 * pct(health_lat, 95)
        res["health_polls"] = len(health_lat)
    return res


def run_local(lm, hf, prompt: list[int], args, c: int, runs: dict[str, list]) -> None:
    """One run each of the peer (transformers generate, batch c) and our Decoder without HTTP, same prompts and
    lengths, appended to runs["peer"] and runs["ours"]."""
    prompts = [prompt] * c
    for name, run, model in (("peer", run_hf, hf), ("ours", run_ours, lm)):
        if model is not None:
            if not runs[name]:
                run(model, prompts, 4, args.temperature, args.top_p)  # warm-up
            runs[name].append(run(model, prompts, args.output_len, args.temperature, args.top_p))


def local_summary(runs: dict[str, list], c: int, args) -> dict:
    """The in-process sides' medians at concurrency c (the JSON's "local" entry)."""
    out = {"batch": c}
    if runs["peer"]:
        out["peer_output_tok_s"], out["peer_decode_tok_s"], out["peer_ttft_ms"] = medians(runs["peer"], c, args)
    if runs["ours"]:
        (out["model_only_output_tok_s"], out["model_only_decode_tok_s"],
         out["model_only_prefill_ms"]) = medians(runs["ours"], c, args)
    return out


def medians(runs: list, c: int, args) -> tuple[float, float, float]:
    """(output tok/s, decode tok/s, prefill ms) of runs of (prefill s, each step's s, tokens) of c sequences."""
    med = statistics.median
    return (med(output_tok_s(r, c, args) for r in runs), med(c / med(steps) for _, steps, _ in runs),
            med(1e3 * prefill for prefill, _, _ in runs))


def output_tok_s(run: tuple, c: int, args) -> float:
    prefill, steps, _ = run
    return c * args.output_len / (prefill + sum(steps))


def median_http(runs: list[dict]) -> dict:
    """The median of each figure over run_http's results of one concurrency; the counts summed."""
    figures = [k for k, v in runs[0].items() if isinstance(v, float)]
    counts = [k for k in ("requests", "failed", "health_polls") if k in runs[0]]
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in figures},
            **{k: sum(r[k] for r in runs) for k in counts},
            "errors": sorted({e for r in runs for e in r["errors"]})[:3]}


# --- --peer llama.cpp: llama-server driven like ours ---------------------------------------------------------------

def parse_peers(spec: str) -> tuple[bool, str | None]:
    """--peer "transformers,llama.cpp:q8_0" -> (transformers in process?, llama.cpp GGUF type or None)."""
    use_hf, llama_type = False, None
    for peer in filter(None, spec.split(",")):
        name, _, kind = peer.partition(":")
        if name == "transformers" and not kind:
            use_hf = True
        elif name == "llama.cpp" and kind in ("", "f32", "f16", "q8_0"):
            llama_type = kind or "f32"
        else:
            raise SystemExit(f"--peer {peer!r}: transformers or llama.cpp[:f32|f16|q8_0]")
    return use_hf, llama_type


def start_llama_server(lm, gguf_type: str, prompt: list[int], args, max_batch: int, tmp: Path):
    """llama-server on a GGUF of lm's weights, with room for max_batch requests, checked to honour max_tokens.

    It is driven with `Connection: close` (run_http's close_connections): llama-server closes the connection
    after every streamed response without saying so (its chunk provider ends the stream by reporting a failure
    to cpp-httplib), so a client that reuses the connection at once fails now and then with "Server disconnected
    without sending a response". A fresh loopback connection per request is what any client gets from it anyway.
    """
    from bench import llama_cpp
    from model.export_hf import export_hf

    write_checkpoint(lm, tmp / "llama-export.pt")
    gguf = llama_cpp.to_gguf(export_hf(tmp / "llama-export.pt", tmp / "hf"), gguf_type)
    shutil.rmtree(tmp / "hf")  # 1 GB of temporaries: the GGUF is kept in llama_cpp's cache
    (tmp / "llama-export.pt").unlink()
    ctx = llama_cpp.context_tokens(max_batch, args.prompt_len, args.output_len)
    proc, url = llama_cpp.serve(gguf, threads=args.threads, parallel=max_batch, ctx=ctx, api_key=KEY,
                                cache_type=args.llama_cache_type,
                                log_path=tmp / "llama-server.log")
    try:
        llama_cpp.check_output_length(url, prompt, args.output_len, KEY)
    except BaseException:
        llama_cpp.stop(proc)
        raise
    return proc, url


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--concurrency", default="1,8,32,128")
    ap.add_argument("--size", default="124M", choices=sorted(SIZES),
                    help="3M: a model a CPU decodes in a few ms, so that the server's own cost per token shows")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2, help="requests per concurrency = rounds x concurrency")
    ap.add_argument("--min-requests", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="every side's, with --top-p (default 0: greedy; OpenAI's default is 1, top_p 1)")
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--quantize", default="none", choices=["none", "int8"])
    ap.add_argument("--kv-cache-dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="our server's KV_CACHE_DTYPE")
    ap.add_argument("--llama-cache-type", default="f16", choices=["f32", "f16", "bf16", "q8_0"],
                    help="llama-server's -ctk and -ctv (f16: its default)")
    ap.add_argument("--url", help="a running server (serving --model) instead of starting one")
    ap.add_argument("--model", default="gpt2-124m-random.pt")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer", default="transformers",
                    help="comma list: transformers (in process, the default) and/or llama.cpp[:f32|f16|q8_0] "
                         "(llama-server over HTTP, alternated with ours at each concurrency; f32 if no type)")
    ap.add_argument("--no-model-only", action="store_true")
    ap.add_argument("--client-procs", type=int, default=8)
    ap.add_argument("--client-cpus", type=lambda s: [int(c) for c in s.split(",")], default=None,
                    help="CPUs for the client processes, e.g. 2,3 (default: this process's, shared with the server)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each side at each concurrency, alternated (ours through HTTP, llama-server, the "
                         "peer and ours in process): medians, and the spread of ours against the peer")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU for the in-process runs")
    ap.add_argument("--json", default="bench/results/serve.json")
    ap.add_argument("--plot", default=None, help="PNG path (default: the --json path with .png)")
    args = ap.parse_args(argv)
    use_hf, llama_type = parse_peers(args.peer)
    if llama_type and args.device != "cpu":
        ap.error("--peer llama.cpp is a CPU benchmark (bench/llama_cpp.py builds llama.cpp for the CPU)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the server we started
    conc = [int(c) for c in args.concurrency.split(",")]
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    lm, hf = build_models(args.size, device, dtype)
    prompt = torch.randint(0, N_VOCAB - 1, (args.prompt_len,), generator=torch.Generator().manual_seed(1)).tolist()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    proc = llama_proc = None
    try:
        url = args.url
        if url is None:
            write_checkpoint(lm, tmp / args.model)
            proc, url = start_server(tmp / args.model, args, max(conc), tmp / "server.log")
        t = time.perf_counter()
        warm = argparse.Namespace(**{**vars(args), "rounds": 1, "output_len": 8})
        run_http(url, args.model, prompt, warm, 1, False, first=0)  # loads the model (and captures the CUDA graphs)
        sent = 1  # prompts sent so far: the first token of the next
        print(f"server warm in {time.perf_counter() - t:.1f} s at {url}", flush=True)
        if llama_type:
            t = time.perf_counter()
            llama_proc, llama_url = start_llama_server(lm, llama_type, prompt, args, max(conc), tmp)
            run_http(llama_url, args.model, prompt, warm, 1, False, first=0, close_connections=True)
            print(f"llama-server ({llama_type}) warm in {time.perf_counter() - t:.1f} s at {llama_url}; it returns "
                  f"exactly {args.output_len} tokens under ignore_eos", flush=True)
        peer = None if args.no_peer or not use_hf else hf
        ours = None if args.no_model_only else lm
        if ours is not None:  # as the server holds it (int8, or panels where this CPU serves from them)
            place_model(lm.model, device, dtype, args.quantize, panels=True)
        http, local = [], []
        for c in conc:
            a = argparse.Namespace(**{**vars(args), "rounds": max(args.rounds, math.ceil(args.min_requests / c))})
            runs, local_runs = [], {"peer": [], "ours": []}
            for _ in range(args.repeats):  # the sides alternated: a shared machine's load changes by the minute
                r = run_http(url, args.model, prompt, a, c, health=c == max(conc), first=sent)
                if llama_type:  # right after ours, same client, prompts, lengths and request count
                    r["llama.cpp"] = {"type": llama_type, **run_http(llama_url, args.model, prompt, a, c,
                                                                     health=c == max(conc), first=sent,
                                                                     close_connections=True)}
                sent += c * a.rounds
                run_local(ours, peer, prompt, args, c, local_runs)  # with the servers idle
                if local_runs["peer"]:  # ours through HTTP against the peer's run next to it
                    r["vs_peer"] = r["output_tok_s"] / output_tok_s(local_runs["peer"][-1], c, args)
                runs.append(r)
                print(json.dumps(r), flush=True)
            http.append({**median_http(runs), "runs": runs})
            if llama_type:
                http[-1]["llama.cpp"] = median_http([r["llama.cpp"] for r in runs])
            local.append(local_summary(local_runs, c, args))
            print(json.dumps(local[-1]), flush=True)
    finally:
        if proc is not None:
            os.killpg(proc.pid, 15)
            try:  # gunicorn waits up to its graceful timeout (30 s) for connections still open
                proc.wait(45)
            except subprocess.TimeoutExpired:
                print("the server did not stop within 45 s of SIGTERM; killed", file=sys.stderr)
                os.killpg(proc.pid, 9)
        if llama_proc is not None:
            from bench.llama_cpp import stop
            stop(llama_proc)
        shutil.rmtree(tmp, ignore_errors=True)  # a 475 MB checkpoint per run otherwise
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    sampled = f", sampled at temperature {args.temperature}, top_p {args.top_p}" if args.temperature else ""
    result = {"title": f"GPT-2 {args.size}, {name}, {str(dtype).removeprefix('torch.')}"
                       f"{', int8' if args.quantize != 'none' else ''}"
                       f"{'' if args.kv_cache_dtype == 'auto' else f', KV cache {args.kv_cache_dtype}'}; "
                       f"prompt {args.prompt_len}, output {args.output_len}{sampled}",
              "args": vars(args), "torch": torch.__version__, "http": http, "local": local}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot(result, Path(args.plot) if args.plot else out.with_suffix(".png"))
    summary(result)
    return result


if __name__ == "__main__":
    main()
