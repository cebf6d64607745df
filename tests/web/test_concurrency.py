"""The engine under load on the real servers: /health stays fast while streams generate, and a client that
hangs up frees its slot at once."""
from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from live_server import KEYS, MEDIUM, TINY

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


class Stream(threading.Thread):
    """A streamed completion read chunk by chunk on a thread, until told to hang up."""

    def __init__(self, url: str, model: str, max_tokens: int = 4000):
        super().__init__(daemon=True)
        self.url, self.model, self.max_tokens = url, model, max_tokens
        self.chunks = 0
        self.hang_up = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        body = {"model": self.model, "prompt": "Streams", "max_tokens": self.max_tokens, "stream": True,
                "temperature": 1.0, "ignore_eos": True}
        try:
            with httpx.Client(timeout=60) as c, c.stream("POST", self.url + "/v1/completions", json=body,
                                                         headers=AUTH) as r:
                r.raise_for_status()
                for line in r.iter_lines():
                    if line.startswith("data: {"):
                        self.chunks += 1
                    if self.hang_up.is_set():
                        return  # leaving the with-blocks closes the connection mid-stream
        except BaseException as e:  # reported by the test
            self.error = e


def _wait(predicate, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _health(url: str) -> dict:
    return httpx.get(url + "/health", timeout=10).json()


@pytest.mark.parametrize("kind", ["gunicorn", "dev"])
def test_health_fast_while_six_streams_generate(servers, kind):
    server = servers(kind)
    streams = [Stream(server.url, MEDIUM) for _ in range(6)]
    for s in streams:
        s.start()
    try:
        _wait(lambda: all(s.chunks >= 2 for s in streams), what="six streams to start")
        before = [s.chunks for s in streams]
        latencies = []
        with httpx.Client(timeout=10) as c:
            for _ in range(60):
                t = time.perf_counter()
                assert c.get(server.url + "/health").status_code == 200
                latencies.append(time.perf_counter() - t)
                time.sleep(0.02)
        health = _health(server.url)
        assert all(s.error is None and s.is_alive() for s in streams), [s.error for s in streams]
        assert all(s.chunks > b for s, b in zip(streams, before))  # they generated throughout
        assert health["engines"][MEDIUM]["running"] == 6
    finally:
        for s in streams:
            s.hang_up.set()
        for s in streams:
            s.join(30)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"\n/health under 6 streams ({kind}): p50 {statistics.median(latencies) * 1e3:.1f} ms, "
          f"p95 {p95 * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms")
    assert p95 < 0.25
    _wait(lambda: _health(server.url)["engines"][MEDIUM]["running"] == 0, 10, "the hung-up streams to leave")


@pytest.mark.parametrize("kind", ["gunicorn", "dev"])
def test_disconnect_frees_the_slot(servers, kind):
    server = servers(kind, MAX_BATCH=1)  # one slot: the next request can only run if the stream let go of it
    # how long the stream would hold the slot if it were not cancelled: time 200 tokens
    t = time.perf_counter()
    httpx.post(server.url + "/v1/completions", headers=AUTH, timeout=60,
               json={"model": TINY, "prompt": "x", "max_tokens": 200, "ignore_eos": True}).raise_for_status()
    per_token = (time.perf_counter() - t) / 200

    stream = Stream(server.url, TINY, max_tokens=4000)
    stream.start()
    _wait(lambda: stream.chunks >= 3, what="the stream to start")
    stream.hang_up.set()
    stream.join(10)
    assert stream.error is None
    t = time.perf_counter()
    r = httpx.post(server.url + "/v1/completions", headers=AUTH, timeout=60,
                   json={"model": TINY, "prompt": "next", "max_tokens": 5})
    waited = time.perf_counter() - t
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 5
    remaining = (4000 - stream.chunks) * per_token
    print(f"\nafter a hang-up ({kind}): next request served in {waited * 1e3:.0f} ms; the stream had "
          f"~{remaining:.1f} s left")
    assert waited < 2.0 and remaining > 10 * waited  # seconds, against the ~minute the stream had left
    engine = _health(server.url)["engines"][TINY]
    assert engine["running"] == 0 and engine["waiting"] == 0
