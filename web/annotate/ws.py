"""WebSocket /ws/train/logs: the training log, live (flask-sock; works under gunicorn's plain gevent worker and
the threaded dev server, tooling.md section 6).

On connect: {"type": "history", "logs": [...]} then {"type": "status", "running", ...}. Then every new log line
as {"type": "log", "time", "message"}, a new status whenever the job's status changes, and {"type": "heartbeat"}
every HEARTBEAT_S so proxies keep the connection and a dead client is noticed. A client's "ping" is answered
with {"type": "pong"}. The log is read from DATA_DIR (jobs.py), so any worker can serve the socket.
Browsers cannot send headers on a WebSocket: they pass the key as ?key= (common.authenticate).
"""
from __future__ import annotations

import json
import os
import time

from flask import current_app
from flask_sock import Sock

from .api import bp

HISTORY = 500  # log lines sent on connect
POLL_S = 0.5  # how often the log file is looked at; also the longest wait for a client message
HEARTBEAT_S = float(os.environ.get("ANNOTATE_HEARTBEAT_S") or 20)  # below the usual 30-60 s proxy idle limits

sock = Sock()


def _status_message(status: dict) -> dict:
    keep = ("running", "status", "id", "model", "method", "step", "total_steps", "loss", "margin", "error")
    return {"type": "status", **{k: status.get(k) for k in keep}}


@sock.route("/ws/train/logs", bp=bp)
def train_logs(ws):
    trainer = current_app.extensions["annotate"].trainer
    status = trainer.status()
    job, (entries, offset) = status.get("id"), trainer.logs(status.get("id"))
    ws.send(json.dumps({"type": "history", "logs": entries[-HISTORY:]}, ensure_ascii=False))
    ws.send(json.dumps(_status_message(status), ensure_ascii=False))
    last_status, beat = status["status"], time.monotonic()
    while True:
        msg = ws.receive(timeout=POLL_S)  # cooperative under gevent; None when nothing came
        if isinstance(msg, str) and msg.strip().lower() == "ping":
            ws.send(json.dumps({"type": "pong"}))
        st = trainer.state()
        if st.get("id") != job:  # a new job started: follow its log from the start
            job, offset = st.get("id"), 0
        new, offset = trainer.logs(job, offset)
        for e in new:
            ws.send(json.dumps({"type": "log", "time": e["time"], "message": e["message"]}, ensure_ascii=False))
        if st.get("status", "idle") != last_status:
            status = trainer.status()
            last_status = status["status"]
            ws.send(json.dumps(_status_message(status), ensure_ascii=False))
        if time.monotonic() - beat >= HEARTBEAT_S:
            ws.send(json.dumps({"type": "heartbeat", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}))
            beat = time.monotonic()
