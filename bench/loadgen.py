"""The client side of bench.serve: streamed completions at a fixed concurrency, timed as `vllm bench serve` does.

Each client process runs one asyncio loop with aiohttp (vLLM's benchmark client too), and is kept free of torch
so it starts fast and stays small. A thread per stream with httpx cost ~265 µs of client CPU per SSE chunk
(this project's EPYC, 32 threads, a local fake server), mostly the interpreter lock changing hands: at 24k
chunks/s on the H200's 16-core host, the clients took 14 cores and left the server 2 (top, PERFORMANCE.md).
One request records, on its own perf_counter, the send, every SSE chunk that carries text, and the completion
tokens of the usage chunk; wall-clock (time.time) start and end let the parent pool requests of several
processes into one duration.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time

import aiohttp
import httpx
import orjson


async def one_request(session: aiohttp.ClientSession, url: str, headers: dict, body: dict) -> dict:
    start_wall, t0 = time.time(), time.perf_counter()
    chunks: list[float] = []
    tokens, error = 0, None
    try:
        async with session.post(url + "/v1/completions", json=body, headers=headers) as r:
            if r.status != 200:
                error = f"{r.status} {(await r.text())[:200]}"
            else:
                async for line in r.content:  # one SSE line at a time, as it arrives
                    if not line.startswith(b"data: {"):
                        continue
                    now = time.perf_counter()
                    obj = orjson.loads(line[6:])
                    if obj.get("choices") and obj["choices"][0].get("text"):
                        chunks.append(now - t0)  # legacy TTFT/ITL: chunks with non-empty content
                    if obj.get("usage"):
                        tokens = obj["usage"]["completion_tokens"]
    except aiohttp.ClientError as e:
        error = repr(e)
    latency = (chunks[-1] if chunks else time.perf_counter() - t0)
    return {"start": start_wall, "end": start_wall + latency, "chunks": chunks, "tokens": tokens,
            "error": error}


_start = None  # the Barrier that client processes pass together, so none starts while others still import


def wait_together(barrier, cpus: list[int] | None = None) -> None:
    """A client process's Pool initializer: keep the start barrier for worker(); move to `cpus` if given (a
    server pinned to two cores then keeps them, as behind a LAN its clients run elsewhere)."""
    global _start
    _start = barrier
    if cpus:
        os.sched_setaffinity(0, cpus)


def worker(url: str, headers: dict, bodies: list[dict], streams: int) -> list[dict]:
    """Send `bodies` with `streams` requests in flight at a time (one process's share of the concurrency).

    Processes of one run start together: spawned ones import for 0.1-1 s, and a late one would add its delay to
    the run's duration (max end - min start), spread 76-248 ms for 8 processes on the EPYC."""
    if _start is not None:
        _start.wait()
    return asyncio.run(_send_all(url, headers, bodies, streams))


async def _send_all(url: str, headers: dict, bodies: list[dict], streams: int) -> list[dict]:
    todo = list(reversed(bodies))
    results: list[dict] = []
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams), timeout=timeout) as session:
        async def stream() -> None:
            while todo:
                results.append(await one_request(session, url, headers, todo.pop()))
        await asyncio.gather(*(stream() for _ in range(streams)))
    return results


def poll_health(url: str, stop: threading.Event, every: float = 0.5) -> list[float]:
    """Seconds each GET /health took, polled until `stop` is set (while the server is saturated). Twice a second:
    at 20 a second, on a 2-core CPU, the answers alone took ~4% of a core from the decode step's two cores (the
    server's gevent hub 6.3% against 2.6%), the probe more, and the step lost about twice that (16 streams: ITL p50
    27.3 against 24.6 ms; PERFORMANCE.md)."""
    out: list[float] = []
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            t = time.perf_counter()
            c.get(url + "/health")
            out.append(time.perf_counter() - t)
            stop.wait(every)
    return out
