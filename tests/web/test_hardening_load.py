"""Overload, disconnects and a one-minute soak (issue 9), against a real gunicorn+gevent server with a small
queue bound (MAX_BATCH=4, MAX_QUEUE=8: at most 12 sequences in flight)."""
from __future__ import annotations

import json
import random
import socket
import threading
import time

import httpx
import pytest

from bench.soak import Soak, rss_bytes
from live_server import KEYS

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


@pytest.fixture(scope="module")
def load_server(servers):
    return servers("gunicorn", MAX_BATCH="4", MAX_QUEUE="8")


def wait_idle(url: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        h = httpx.get(url + "/health", timeout=5).json()
        if all(e["running"] == 0 and e["waiting"] == 0 for e in h["engines"].values()) and h["queue_depth"] == 0:
            return h
        assert time.monotonic() < deadline, f"the engine is not idle: {h}"
        time.sleep(0.1)


def test_overload_200_simultaneous(load_server):
    url = load_server.url
    httpx.post(url + "/v1/completions", json={"prompt": "warm", "max_tokens": 1}, headers=AUTH, timeout=60)
    n = 200
    results: list = [None] * n
    barrier = threading.Barrier(n + 1)

    def one(i: int) -> None:
        with httpx.Client(timeout=60) as c:
            barrier.wait()
            try:
                r = c.post(url + "/v1/completions", headers=AUTH,
                           json={"prompt": "Overload", "max_tokens": 8, "ignore_eos": True, "stream": i % 2 == 1})
                results[i] = (r.status_code, r.headers.get("Retry-After"), r.text)
            except Exception as e:  # a hang (timeout) or a dropped connection
                results[i] = (type(e).__name__, None, str(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    health_s = []
    while any(t.is_alive() for t in threads):  # /health stays fast while the storm runs
        t0 = time.monotonic()
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        health_s.append(time.monotonic() - t0)
        time.sleep(0.05)
    for t in threads:
        t.join()
    counts: dict = {}
    for status, retry_after, text in results:
        counts[status] = counts.get(status, 0) + 1
        assert status in (200, 503), (status, text[:300])
        if status == 503:
            assert retry_after and int(retry_after) >= 1
            assert json.loads(text)["error"]["code"] == "server_busy"
        elif text.startswith("data:"):  # the streamed half ran to the end
            assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
    print(f"overload: {counts}; /health max {max(health_s) * 1000:.0f} ms over {len(health_s)} probes")
    assert counts.get(200, 0) >= 12 and counts.get(503, 0) >= 1
    assert max(health_s) < 1.5  # 200 client threads share 2 cores with the server here
    wait_idle(url)


def _hang_up(port: int, rng: random.Random) -> str:
    """A streaming request abandoned at a random point: right after sending, after the headers, or mid-stream."""
    body = json.dumps({"prompt": "Disconnect", "max_tokens": 200, "ignore_eos": True, "stream": True,
                       **({"n": 2} if rng.random() < 0.3 else {})}).encode()
    if rng.random() < 0.5:
        path = "/v1/completions"
    else:
        path = "/v1/chat/completions"
        body = json.dumps({"messages": [{"role": "user", "content": "Disconnect"}], "max_tokens": 200,
                           "ignore_eos": True, "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEYS[0]}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        point = rng.choice(["sent", "headers", "mid"])
        if point == "sent":
            time.sleep(rng.random() * 0.2)
            return point
        got = b""
        want = rng.randint(1, 30) if point == "mid" else 0
        while b"\r\n\r\n" not in got or got.count(b"data: ") < want:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        if rng.random() < 0.5:  # half with a reset instead of a clean close
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return point
    finally:
        s.close()


def test_disconnects_leave_nothing_running(load_server):
    url, port, pid = load_server.url, load_server.port, load_server.proc.pid
    rng = random.Random(9)

    def wave(count: int, parallel: int = 8) -> None:
        todo = list(range(count))
        lock = threading.Lock()

        def run():
            while True:
                with lock:
                    if not todo:
                        return
                    todo.pop()
                    seed = rng.random()
                _hang_up(port, random.Random(seed))
                wait_for_room()

        threads = [threading.Thread(target=run) for _ in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def wait_for_room():  # keep under the queue bound, so every client reaches the engine
        for _ in range(100):
            h = httpx.get(url + "/health", timeout=5).json()
            if sum(e["running"] + e["waiting"] for e in h["engines"].values()) <= 4:
                return
            time.sleep(0.05)

    wave(12)  # warm-up: allocator pools, code paths
    wait_idle(url)
    before = rss_bytes(pid)
    wave(100)
    h = wait_idle(url)
    after = rss_bytes(pid)
    print(f"disconnects: RSS before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB "
          f"({(after / before - 1) * 100:+.2f}%); health {h['engines']}")
    assert after < before * 1.05 + (8 << 20), (before, after)
    # and the engine still serves
    r = httpx.post(url + "/v1/completions", json={"prompt": "still", "max_tokens": 2}, headers=AUTH, timeout=60)
    assert r.status_code == 200


def test_soak_one_minute(load_server):
    """bench/soak.py for 55 s (the 20-minute run: python -m bench.soak --minutes 20)."""
    out = Soak(load_server.url, KEYS[0]).run(55, concurrency=6, pid=load_server.proc.pid)
    print("soak:", json.dumps(out))
    assert out["unexpected"] == 0, out["unexpected_samples"]
    assert out["requests"] > 100
    assert out["rss_growth"] < 0.05, out
