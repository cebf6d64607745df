"""Soak test: a running server gets a mix of chat, completions, streams and erroneous requests at moderate
concurrency for a while; every answer must be the expected one, and resident memory must not grow.

    python -m bench.soak --url http://127.0.0.1:5001 --key $MY_API_KEY --pid <gunicorn master pid> --minutes 20

Expected answers: 200 (a well-formed completion, or a stream ending in [DONE] with no error frame) for the good
requests; 400 / 401 / 404 / 413 with OpenAI's error shape for the bad ones; 503 with Retry-After only when the
queue is full. Anything else (5xx, a wrong status, a broken stream, a timeout) is an unexpected error.
Memory: the RSS of --pid and its children, sampled once a second; the baseline is taken when the warm-up (the
first --warmup fraction of the run, at least 10 s) ends; growth = last sample / baseline - 1.
Prints one JSON line of figures; exits 1 when an unexpected error happened or RSS grew more than --max-growth.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter

import httpx

PROMPTS = ["ROMEO:", "Once upon a time", "The quick brown fox", "To be, or not to be", "In the beginning"]


def rss_bytes(pid: int) -> int:
    """RSS of a process and its children (a gunicorn master and its workers), from /proc."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def _error_shaped(r: httpx.Response) -> bool:
    try:
        err = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str)


class Soak:
    def __init__(self, url: str, key: str, max_tokens: int = 16):
        self.url, self.key, self.max_tokens = url.rstrip("/"), key, max_tokens
        self.counts: Counter = Counter()
        self.unexpected: list[str] = []
        self.lock = threading.Lock()

    def _note(self, kind: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.counts[kind + (":ok" if ok else ":UNEXPECTED")] += 1
            if not ok and len(self.unexpected) < 50:
                self.unexpected.append(f"{kind}: {detail}"[:500])

    def one(self, c: httpx.Client, rng: random.Random) -> None:
        """One request of a kind drawn at random; its outcome counted."""
        h = {"Authorization": f"Bearer {self.key}"}
        mt = rng.randint(1, self.max_tokens)
        kind = rng.choices(["chat", "completion", "chat_stream", "completion_stream", "bad_param", "bad_key",
                            "unknown_model", "bad_json", "too_large", "stream_abort"],
                           weights=[4, 4, 3, 3, 1, 1, 1, 1, 1, 1])[0]
        try:
            if kind in ("chat", "completion", "chat_stream", "completion_stream", "stream_abort"):
                chat = kind.startswith("chat") or (kind == "stream_abort" and rng.random() < 0.5)
                body = {"max_tokens": mt, "temperature": rng.choice([0, 0.7, 1.0]), "seed": rng.randint(0, 99)}
                if chat:
                    path = "/v1/chat/completions"
                    body["messages"] = [{"role": "user", "content": rng.choice(PROMPTS)}]
                else:
                    path = "/v1/completions"
                    body["prompt"] = rng.choice(PROMPTS)
                if "stream" in kind:
                    body["stream"] = True
                    body["stream_options"] = {"include_usage": True}
                    with c.stream("POST", self.url + path, json=body, headers=h) as r:
                        if r.status_code == 503:
                            return self._note(kind + ":busy", "Retry-After" in r.headers, "no Retry-After")
                        if r.status_code != 200:
                            r.read()
                            return self._note(kind, False, f"{r.status_code} {r.text[:200]}")
                        lines = []
                        for line in r.iter_lines():
                            lines.append(line)
                            if kind == "stream_abort" and len(lines) >= rng.randint(1, 6):
                                return self._note(kind, True)  # leaving the block hangs up mid-stream
                        data = [ln for ln in lines if ln.startswith("data: ")]
                        ok = data and data[-1] == "data: [DONE]" and not any('"error"' in d for d in data)
                        return self._note(kind, bool(ok), f"stream ended {data[-2:]!r}")
                r = c.post(self.url + path, json=body, headers=h)
                if r.status_code == 503:
                    return self._note(kind + ":busy", "Retry-After" in r.headers, "no Retry-After")
                ok = r.status_code == 200 and r.json()["choices"] and r.json()["usage"]["completion_tokens"] >= 1
                return self._note(kind, bool(ok), f"{r.status_code} {r.text[:200]}")
            if kind == "bad_param":
                r = c.post(self.url + "/v1/chat/completions", headers=h, json={
                    "messages": [{"role": "user", "content": "hi"}], "temperature": rng.choice([-1, 3, "hot"])})
                return self._note(kind, r.status_code == 400 and _error_shaped(r) and
                                  r.json()["error"]["param"] == "temperature", f"{r.status_code} {r.text[:200]}")
            if kind == "bad_key":
                r = c.post(self.url + "/v1/completions", json={"prompt": "x", "max_tokens": 1},
                           headers={"Authorization": "Bearer wrong-" + str(rng.random())})
                return self._note(kind, r.status_code == 401 and _error_shaped(r), f"{r.status_code} {r.text[:200]}")
            if kind == "unknown_model":
                r = c.post(self.url + "/v1/completions", headers=h,
                           json={"model": rng.choice(["nope", "../etc/passwd", "/etc/passwd"]), "prompt": "x"})
                return self._note(kind, r.status_code == 404 and _error_shaped(r), f"{r.status_code} {r.text[:200]}")
            if kind == "bad_json":
                r = c.post(self.url + "/v1/chat/completions", headers={**h, "Content-Type": "application/json"},
                           content=b'{"messages": [')
                return self._note(kind, r.status_code == 400 and _error_shaped(r), f"{r.status_code} {r.text[:200]}")
            if kind == "too_large":
                r = c.post(self.url + "/v1/completions", headers={**h, "Content-Type": "application/json"},
                           content=b'{"prompt": "' + b"a" * (2 << 20) + b'"}')
                return self._note(kind, r.status_code == 413 and _error_shaped(r), f"{r.status_code} {r.text[:200]}")
        except httpx.HTTPError as e:
            if kind == "too_large" and isinstance(e, (httpx.WriteError, httpx.RemoteProtocolError)):
                return self._note(kind, True)  # the server answered 413 and closed before the body was sent
            return self._note(kind, False, f"{type(e).__name__}: {e}")

    def run(self, seconds: float, concurrency: int = 6, pid: int | None = None, warmup: float = 0.2,
            seed: int = 0) -> dict:
        start = time.monotonic()
        end = start + seconds
        warm_end = start + max(10.0, warmup * seconds)
        samples: list[tuple[float, int]] = []
        latencies: list[float] = []

        def worker(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            with httpx.Client(timeout=120) as c:
                while time.monotonic() < end:
                    t0 = time.monotonic()
                    self.one(c, rng)
                    with self.lock:
                        latencies.append(time.monotonic() - t0)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if pid:
                samples.append((time.monotonic() - start, rss_bytes(pid)))
            time.sleep(1.0)
        for t in threads:
            t.join()
        # the engine must be idle once the clients are gone (hung-up streams included)
        health = {}
        for _ in range(50):
            health = httpx.get(self.url + "/health", timeout=10).json()
            if all(e["running"] == 0 and e["waiting"] == 0 for e in health["engines"].values()):
                break
            time.sleep(0.2)
        idle = all(e["running"] == 0 and e["waiting"] == 0 for e in health["engines"].values())
        after = [s for t, s in samples if t >= warm_end - start]
        baseline = after[0] if after else None
        final = rss_bytes(pid) if pid else None
        latencies.sort()
        return {
            "seconds": round(time.monotonic() - start, 1), "concurrency": concurrency,
            "requests": sum(self.counts.values()), "counts": dict(sorted(self.counts.items())),
            "unexpected": sum(v for k, v in self.counts.items() if k.endswith("UNEXPECTED")) + (0 if idle else 1),
            "unexpected_samples": self.unexpected + ([] if idle else [f"engine not idle: {health}"]),
            "engine_idle_after": idle,
            "p50_s": round(latencies[len(latencies) // 2], 3) if latencies else None,
            "p99_s": round(latencies[int(len(latencies) * 0.99)], 3) if latencies else None,
            "rss_start_mb": round(samples[0][1] / 2**20, 1) if samples else None,
            "rss_baseline_mb": round(baseline / 2**20, 1) if baseline else None,
            "rss_max_mb": round(max(s for _, s in samples) / 2**20, 1) if samples else None,
            "rss_end_mb": round(final / 2**20, 1) if final else None,
            "rss_growth": round(final / baseline - 1, 4) if baseline and final else None,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:5001")
    ap.add_argument("--key", required=True)
    ap.add_argument("--pid", type=int, help="the server's pid (gunicorn master): RSS of it and its children")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=0.2, help="fraction of the run before the RSS baseline")
    ap.add_argument("--max-growth", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Soak(a.url, a.key, a.max_tokens).run(a.minutes * 60, a.concurrency, a.pid, a.warmup, a.seed)
    print(json.dumps(out))
    grew = out["rss_growth"] is not None and out["rss_growth"] > a.max_growth
    return 1 if out["unexpected"] or grew else 0


if __name__ == "__main__":
    sys.exit(main())
