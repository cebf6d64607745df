"""ENGINE_PROCESS=1 under the production command: the gevent worker keeps HTTP and its engine runs in a child
process (engine/process.py). Clients see what a worker with the engine inside gives them."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from live_server import KEYS, MEDIUM, TINY

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
          "additionalProperties": False}


def _children(pid: int) -> list[int]:
    """Every thread's children (/proc/PID/task/TID/children lists one thread's)."""
    return sorted(int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                  for c in (task / "children").read_text().split())


def _answers(server) -> list:
    with server.client() as client:
        done = client.completions.create(model=TINY, prompt=["Once upon", "The"], n=2, max_tokens=12,
                                         temperature=0, logprobs=2)
        # the text, not its chunks: a stream whose client fell behind gets several tokens in one
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=TINY, messages=[{"role": "user", "content": "Hello"}], max_tokens=10, temperature=0.7, seed=3,
            stream=True) if c.choices)
        shaped = client.chat.completions.create(
            model=TINY, messages=[{"role": "user", "content": "JSON"}], max_tokens=40, temperature=0.8, seed=1,
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}})
    return [[(c.index, c.text, c.logprobs.tokens, c.logprobs.token_logprobs, c.finish_reason) for c in done.choices],
            done.usage.completion_tokens, streamed, shaped.choices[0].message.content]


def test_a_worker_with_its_engine_apart_answers_as_one_with_it_inside(servers):
    inside, apart = servers("gunicorn"), servers("gunicorn", ENGINE_PROCESS=1)
    assert _children(_worker(inside)) == []
    ours = _answers(apart)
    assert len(_children(_worker(apart))) == 1  # the tiny model's engine process
    assert ours == _answers(inside)
    jsonschema.validate(json.loads(ours[-1]), SCHEMA)
    details = [httpx.get(s.url + f"/v1/models/{TINY}", headers=AUTH, timeout=10).json() for s in (apart, inside)]
    assert details[0]["loaded"] is True and details[0]["parameters"] == details[1]["parameters"] > 0


def _worker(server) -> int:
    return _children(server.proc.pid)[0]


@contextlib.contextmanager
def _long_stream(http: httpx.Client, model: str):
    """The lines of a 4,000-token stream, once its first chunk came."""
    body = {"model": model, "prompt": "Once", "max_tokens": 4000, "ignore_eos": True, "stream": True}
    with http.stream("POST", "/v1/completions", json=body) as response:
        lines = response.iter_lines()
        while not next(lines).startswith("data: {"):
            pass
        yield lines


@pytest.mark.parametrize("kind", ["gunicorn", "dev"])  # gevent's hub, or the dev server's threads
def test_a_client_that_hangs_up_frees_its_slot_in_the_engine_process(servers, kind):
    server = servers(kind, ENGINE_PROCESS=1, MAX_BATCH=2)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        with _long_stream(http, MEDIUM):
            assert httpx.get(server.url + "/health", timeout=10).json()["engines"][MEDIUM]["running"] == 1
    deadline = time.monotonic() + 10  # 4,000 tokens of this model take far longer
    while httpx.get(server.url + "/health", timeout=10).json()["engines"][MEDIUM]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_an_engine_process_that_dies_ends_its_streams_with_an_error_and_is_loaded_again(servers):
    server = servers("gunicorn", ENGINE_PROCESS=1, MAX_BATCH=3)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        with _long_stream(http, TINY) as lines:
            (engine,) = _children(_worker(server))
            os.kill(engine, signal.SIGKILL)
            events = [line[len("data: "):] for line in lines if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["code"] == "engine_exited"
        again = http.post("/v1/completions", json={"model": TINY, "prompt": "Once", "max_tokens": 3})
        assert again.status_code == 200 and again.json()["usage"]["completion_tokens"] == 3
