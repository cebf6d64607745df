"""kill -9 of the server between and during adds loses no acknowledged record and leaves a sound database."""
from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx

from live_server import KEYS, Server

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


def _adder(url: str, acked: list[tuple[int, str]], stop: threading.Event) -> None:
    """Add records one after another; remember those the server acknowledged."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as c:
        i = 0
        while not stop.is_set():
            chosen = f"reply {i} {time.monotonic_ns()}"
            try:
                r = c.post("/api/dataset/add", json={"mode": "single", "human_input": f"q{i}", "chosen": chosen,
                                                     "rejected": "no"})
            except httpx.TransportError:
                return  # killed mid-request: not acknowledged, so it may or may not be there
            if r.status_code == 200:
                acked.append((r.json()["data"]["id"], chosen))
            i += 1


def test_kill_9_loses_no_acknowledged_record(model_dir, tmp_path):
    data = tmp_path / "data"
    env = dict(DATA_DIR=str(data), MODEL_DIR=str(tmp_path / "models"))
    acked: list[tuple[int, str]] = []
    for _ in range(2):
        server = Server("dev", model_dir, tmp_path, **env)
        stop = threading.Event()
        t = threading.Thread(target=_adder, args=(server.url, acked, stop))
        before = len(acked)
        t.start()
        while len(acked) < before + 15:
            time.sleep(0.01)
        os.killpg(server.proc.pid, signal.SIGKILL)  # while adds are in flight
        server.proc.wait()
        stop.set()
        t.join()

    server = Server("dev", model_dir, tmp_path, **env)
    try:
        with httpx.Client(base_url=server.url, headers=AUTH) as c:
            items = c.get("/api/dataset/list", params={"dataset": "preference", "limit": 10000}).json()["data"]["items"]
    finally:
        server.stop()
    stored = {it["id"]: it["chosen"] for it in items}
    assert len(acked) >= 30
    missing = [(i, ch) for i, ch in acked if stored.get(i) != ch]
    assert missing == []
    with sqlite3.connect(data / "annotate.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
