"""The client side of bench.serve: streamed completions at a fixed concurrency, timed as `vllm bench serve` does.

Kept free of torch so the load-generating processes start fast and stay small. One request records, on its own
perf_counter, the send, every SSE chunk that carries text, and the completion tokens of the usage chunk;
wall-clock (time.time) start and end let the parent pool requests of several processes into one duration.
"""
from __future__ import annotations

import json
import threading
import time

import httpx


def one_request(client: httpx.Client, url: str, headers: dict, body: dict) -> dict:
    start_wall, t0 = time.time(), time.perf_counter()
    chunks: list[float] = []
    tokens, error = 0, None
    try:
        with client.stream("POST", url + "/v1/completions", json=body, headers=headers) as r:
            if r.status_code != 200:
                r.read()
                error = f"{r.status_code} {r.text[:200]}"
            else:
                for line in r.iter_lines():
                    if not line.startswith("data: {"):
                        continue
                    now = time.perf_counter()
                    obj = json.loads(line[6:])
                    if obj.get("choices") and obj["choices"][0].get("text"):
                        chunks.append(now - t0)  # legacy TTFT/ITL: chunks with non-empty content
                    if obj.get("usage"):
                        tokens = obj["usage"]["completion_tokens"]
    except httpx.HTTPError as e:
        error = repr(e)
    latency = (chunks[-1] if chunks else time.perf_counter() - t0)
    return {"start": start_wall, "end": start_wall + latency, "chunks": chunks, "tokens": tokens,
            "error": error}


def worker(url: str, headers: dict, bodies: list[dict], threads: int) -> list[dict]:
    """Send `bodies` with `threads` requests in flight at a time (one process's share of the concurrency)."""
    results: list[dict] = []
    lock = threading.Lock()
    todo = list(reversed(bodies))

    def loop() -> None:
        with httpx.Client(timeout=600, limits=httpx.Limits(max_connections=threads)) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                res = one_request(client, url, headers, body)
                with lock:
                    results.append(res)

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def poll_health(url: str, stop: threading.Event, every: float = 0.05) -> list[float]:
    """Seconds each GET /health took, polled until `stop` is set (while the server is saturated)."""
    out: list[float] = []
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            t = time.perf_counter()
            c.get(url + "/health")
            out.append(time.perf_counter() - t)
            stop.wait(every)
    return out
