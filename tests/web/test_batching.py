"""Continuous batching through the real server: a request's text does not depend on its companions, the KV cache
budget sets the number of slots, and cancelled streams (running or still queued) leave no slot behind."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from live_server import KEYS, MEDIUM
from test_concurrency import Stream, _health, _wait

from model.loader import load_model
from model.kv_cache import KVCache
from engine.engine import slots_for

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
# (prompt, max_tokens, sampling): different lengths, so sequences leave while others still run
REQUESTS = [("To be", 40, {"temperature": 0}), ("or not", 12, {"temperature": 1.0, "seed": 7}),
            ("that is", 30, {"temperature": 0}), ("the question", 8, {"temperature": 0.8, "seed": 3, "top_k": 20}),
            ("Whether", 25, {"temperature": 1.0, "seed": 11}), ("tis nobler", 18, {"temperature": 0})]


def _complete(url: str, prompt: str, max_tokens: int, extra: dict) -> str:
    body = {"model": MEDIUM, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, **extra}
    r = httpx.post(url + "/v1/completions", json=body, headers=AUTH, timeout=60)
    r.raise_for_status()
    return r.json()["choices"][0]["text"]


def test_batched_equals_alone_with_joins_and_leaves(servers):
    server = servers("gunicorn", MAX_BATCH=4)  # 6 requests, 4 slots: two wait and join as others leave
    alone = [_complete(server.url, *req) for req in REQUESTS]
    together: list[str | None] = [None] * len(REQUESTS)

    def run(i: int) -> None:
        time.sleep(0.03 * i)  # staggered: each joins a batch that is already decoding
        together[i] = _complete(server.url, *REQUESTS[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(REQUESTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert together == alone
    _wait(lambda: _health(server.url)["engines"][MEDIUM]["running"] == 0, 10, "the batch to drain")


def test_cancelled_streams_running_and_queued_leak_no_slot(servers):
    server = servers("gunicorn", MAX_BATCH=2, MAX_QUEUE=8)
    streams = [Stream(server.url, MEDIUM) for _ in range(5)]  # 2 running, 3 queued
    for s in streams:
        s.start()
    _wait(lambda: sum(s.chunks >= 2 for s in streams) >= 2, what="two streams to run")
    assert _health(server.url)["engines"][MEDIUM]["waiting"] == 3
    for s in streams:
        s.hang_up.set()
    for s in streams:
        s.join(30)
    assert all(s.error is None for s in streams)
    _wait(lambda: (lambda e: e["running"] == 0 and e["waiting"] == 0)(_health(server.url)["engines"][MEDIUM]),
          10, "every slot and queue place to be given back")
    # both slots are free: two requests run side by side to completion
    texts = [None, None]

    def run(i: int) -> None:
        texts[i] = _complete(server.url, "after", 5, {"temperature": 0})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert texts[0] == texts[1] is not None


@pytest.mark.parametrize("budget_slots", [1, 3])
def test_kv_cache_budget_sets_the_slots(model_dir, budget_slots):
    lm = load_model(model_dir / MEDIUM, device="cpu")
    per_slot = KVCache.bytes_per_slot(lm.config, lm.config.block_size, lm.dtype)
    mb = -(-budget_slots * per_slot // (1 << 20))  # MiB that hold budget_slots slots (rounded up)
    expected = min(8, mb * (1 << 20) // per_slot)
    assert slots_for(lm, 8, mb) == expected >= budget_slots
    assert slots_for(lm, 8, 0) == 8  # no budget: MAX_BATCH
    assert slots_for(lm, 8, 1 << 20) == 8  # a large budget never raises MAX_BATCH
