"""Stop, as chat UIs press it (Open WebUI's Stop, openai-node's AbortController, closing an openai-python stream):
whatever state the aborted request is in, the others finish cleanly and the model keeps serving."""
from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from live_server import KEYS, TINY

PENALTIES = {"none": {}, "presence": {"presence_penalty": 0.5}, "frequency": {"frequency_penalty": 0.5},
             "repetition": {"extra_body": {"repetition_penalty": 1.3}}}
# MAX_BATCH=4 holds A (n=2, slots 0-1), B (slot 2) and C (slot 3, the last); D waits in the queue
ABORTED = ["A", "B", "C", "D"]


# every penalty kind and every slot under gunicorn; every slot under the dev server
CASES = [("gunicorn", penalty, aborted) for penalty in PENALTIES for aborted in ABORTED] + \
    [("dev", "frequency", aborted) for aborted in ABORTED]


def _health(server) -> dict:
    return httpx.get(server.url + "/health", timeout=10).json()["engines"].get(TINY, {})


def _wait(server, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while not predicate(h := _health(server)):
        assert time.monotonic() < deadline, h
        time.sleep(0.02)
    return h


def _queued_request(server, body: dict) -> socket.socket:
    """A raw streamed request (HTTP/1.0: the body ends when the connection does), for the one that waits in
    the queue: it has no response headers yet to wait for."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: "
                 b"Bearer " + KEYS[0].encode() + b"\r\nContent-Length: " + str(len(payload)).encode() +
                 b"\r\n\r\n" + payload)
    return sock


@pytest.mark.parametrize("kind,penalty,aborted", CASES)
def test_stop_in_any_state_leaves_the_others_clean(servers, kind, penalty, aborted):
    server = servers(kind, MAX_BATCH=4)
    params = dict(model=TINY, prompt="Once upon a time", max_tokens=100, stream=True, **PENALTIES[penalty])
    params.setdefault("extra_body", {})["ignore_eos"] = True
    with server.client() as client:
        streams = {"A": client.completions.create(n=2, **params), "B": client.completions.create(**params),
                   "C": client.completions.create(**params)}
        first = {name: next(iter(s)) for name, s in streams.items()}  # each is running: its first chunk came
        queued = _queued_request(server, {**params.pop("extra_body"), **params})
        _wait(server, lambda h: h.get("waiting") == 1)
        if aborted == "D":
            queued.close()
        else:
            queued_stream = queued.makefile("rb")
            streams.pop(aborted).close()
        finish = {}
        for name, stream in streams.items():
            for chunk in stream:
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish[name, choice.index] = choice.finish_reason
        assert all(reason == "length" for reason in finish.values()), finish
        assert len(finish) == sum(2 if name == "A" else 1 for name in streams)
        if aborted != "D":  # the queued request ran once a slot was free, and finished cleanly too
            body = queued_stream.read().decode()
            assert '"finish_reason":"length"' in body and '"error"' not in body and "data: [DONE]" in body
            queued_stream.close()
            queued.close()
        assert first  # every stream had started before the abort
        after = client.completions.create(model=TINY, prompt="Once", max_tokens=5)
        assert after.choices[0].finish_reason in ("length", "stop")
    _wait(server, lambda h: h.get("running") == 0 and h.get("waiting") == 0)
