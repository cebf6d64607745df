"""The annotation database: one SQLite file in DATA_DIR holding both datasets.

- `preference` (single mode): a human input with a chosen and a rejected reply; `roleplay` (multi mode): a
  conversation turn, its context and the chosen reply.
- WAL journal: readers (stats, list, export) never block the writer, and a commit is one append to the WAL.
- synchronous=FULL: every commit fsyncs the WAL before add() returns, so an acknowledged record survives not
  only kill -9 of the server (NORMAL would already, since the WAL is in the OS's page cache) but also a power
  cut or kernel crash (NORMAL may lose the last commits then). Adds come at human pace, one every few
  seconds, so the extra fsync (milliseconds) costs nothing that matters, and each record is a person's work.
- A connection per call: cheap for SQLite, and safe under gevent greenlets, threads and several gunicorn workers
  (busy_timeout waits out another worker's write instead of failing).
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

DATASETS = ("preference", "roleplay")
FIELDS = ("human_input", "chosen", "chosen_thinking", "rejected", "rejected_thinking", "context", "system_prompt",
          "model")
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL CHECK (dataset IN ('preference', 'roleplay')),
    created TEXT NOT NULL,
    human_input TEXT NOT NULL,
    chosen TEXT NOT NULL,
    chosen_thinking TEXT,
    rejected TEXT,
    rejected_thinking TEXT,
    context TEXT NOT NULL DEFAULT '[]',  -- JSON list of {role, content}
    system_prompt TEXT,
    model TEXT
);
CREATE INDEX IF NOT EXISTS records_by_dataset ON records (dataset, id);
"""


class Store:
    def __init__(self, data_dir: str | Path):
        self.dir = Path(data_dir)
        self.path = self.dir / "annotate.sqlite3"
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:  # lazily: creating the app (gunicorn imports it) must not need a writable DATA_DIR
            self.dir.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
                conn.executescript(SCHEMA)
            self._ready = True
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=FULL")  # per connection: see the module docstring
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def add(self, dataset: str, rec: dict) -> tuple[int, int]:
        """Insert and commit (fsynced) before returning; the new id and the dataset's count."""
        values = {k: rec.get(k) for k in FIELDS}
        values["context"] = json.dumps(values["context"] or [], ensure_ascii=False)
        with closing(self._connect()) as conn:
            with conn:  # one transaction: committed on leaving the block, rolled back on an exception
                cur = conn.execute(
                    f"INSERT INTO records (dataset, created, {', '.join(FIELDS)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(FIELDS))})",
                    (dataset, time.strftime("%Y-%m-%dT%H:%M:%S"), *values.values()))
                new_id = cur.lastrowid
                total = conn.execute("SELECT COUNT(*) FROM records WHERE dataset = ?", (dataset,)).fetchone()[0]
        return new_id, total

    def counts(self) -> dict[str, int]:
        with closing(self._connect()) as conn:
            rows = dict(conn.execute("SELECT dataset, COUNT(*) FROM records GROUP BY dataset").fetchall())
        return {d: rows.get(d, 0) for d in DATASETS}

    def list(self, dataset: str, limit: int | None = None, newest_first: bool = True) -> list[dict]:
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM records WHERE dataset = ? ORDER BY id {order}" + (" LIMIT ?" if limit else "")
        with closing(self._connect()) as conn:
            rows = conn.execute(sql, (dataset, limit) if limit else (dataset,)).fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(r: sqlite3.Row) -> dict:
        out = dict(r)
        out["context"] = json.loads(out["context"] or "[]")
        return out
