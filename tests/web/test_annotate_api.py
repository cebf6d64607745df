"""The annotation loop end to end against a live gunicorn+gevent server: load, generate candidates, add records,
export, train on CPU, serve the result; the training log over the WebSocket; stop keeps the last checkpoint."""
from __future__ import annotations

import json
import time

import httpx
import pytest
import websocket

from live_server import KEYS, TINY

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


@pytest.fixture(scope="module")
def live(servers, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate-models")  # trained models land here, apart from the shared MODEL_DIR
    data = tmp_path_factory.mktemp("annotate-data")
    return servers("gunicorn", MODEL_DIR=str(out), DATA_DIR=str(data), ANNOTATE_HEARTBEAT_S="1")


@pytest.fixture(scope="module")
def api(live):
    with httpx.Client(base_url=live.url, headers=AUTH, timeout=60) as c:
        yield c


def ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and isinstance(body["message"], str), body
    return body["data"]


def wait_for(api, status: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = ok(api.get("/api/train/status"))
        if st["status"] == status:
            return st
        assert st["status"] == "running", st
        time.sleep(0.3)
    raise AssertionError(f"training did not reach {status}: {st}")


def test_auth_and_errors_use_the_envelope(live, api):
    r = httpx.get(live.url + "/api/model/status")
    assert r.status_code == 401 and r.json()["status"] == "error" and r.json()["detail"]
    assert ok(api.get("/api/model/status"))["model_loaded"] is False
    r = api.post("/api/generate", json={"message": "Hi"})
    assert r.status_code == 400 and "load" in r.json()["message"]
    r = api.post("/api/model/load", json={"model": "nope.pt"})
    assert r.status_code == 404 and r.json()["status"] == "error"
    r = api.post("/api/model/load", json={"num_responses": 11})
    assert r.status_code == 400 and "num_responses" in r.json()["message"]
    r = api.post("/api/dataset/add", json={"mode": "single", "human_input": "x", "chosen": "y"})
    assert r.status_code == 400 and "rejected" in r.json()["message"]
    assert api.post("/api/train/start", json={"steps": 2}).status_code == 400  # nothing to train on yet


def test_load_generate_add_train_and_serve(live, api):
    data = ok(api.post("/api/model/load", json={"num_responses": 4, "max_new_tokens": 12, "temperature": 1.0,
                                                "system_prompt": "Be kind."}))
    assert data["model"] == TINY and data["config"]["num_responses"] == 4
    status = ok(api.get("/api/model/status"))
    assert status["model_loaded"] and status["config"]["max_new_tokens"] == 12 and status["gpu_info"] == {}

    body = api.post("/api/generate", json={"message": "Good morrow", "context": []}).json()
    responses = body["responses"]  # where the annotation service's clients read them
    assert body["data"]["responses"] == responses
    assert [r["id"] for r in responses] == [1, 2, 3, 4]
    assert all(isinstance(r["content"], str) and "thinking" not in r for r in responses)
    assert len({r["content"] for r in responses}) > 1, responses  # sampled side by side, not one answer 4 times

    for i in range(16):
        d = ok(api.post("/api/dataset/add", json={"mode": "single", "human_input": f"Question {i}?",
                                                  "chosen": " kind fair gentle words", "rejected": " foul vile base",
                                                  "chosen_thinking": "be nice"}))
        assert d["total"] == i + 1 and d["dataset"] == "preference"
    context = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Well met."}]
    for i in range(4):
        d = ok(api.post("/api/dataset/add", json={"mode": "multi", "human_input": f"And then {i}?",
                                                  "chosen": responses[0]["content"] or "Aye.", "context": context}))
    assert d["total"] == 4 and d["dataset"] == "roleplay"
    stats = ok(api.get("/api/dataset/stats"))
    assert stats["preference"]["count"] == 16 and stats["roleplay"]["count"] == 4
    items = ok(api.get("/api/dataset/list", params={"dataset": "roleplay", "limit": 2}))["items"]
    assert len(items) == 2 and items[0]["human_input"] == "And then 3?" and items[0]["context"] == context

    trl = [json.loads(x) for x in api.get("/api/dataset/export", params={"format": "trl"}).text.splitlines()]
    assert len(trl) == 16 and trl[0]["prompt"][0] == {"role": "system", "content": "Be kind."}
    assert trl[0]["chosen"][0]["content"] == "<think>be nice</think> kind fair gentle words"
    lf = [json.loads(x) for x in api.get("/api/dataset/export", params={"format": "llamafactory",
                                                                        "dataset": "roleplay"}).text.splitlines()]
    assert [t["from"] for t in lf[0]["conversations"]] == ["human", "gpt", "human", "gpt"] and lf[0]["system"]
    text = [json.loads(x) for x in api.get("/api/dataset/export", params={"format": "text"}).text.splitlines()]
    assert text[0] == {"prompt": "Be kind.\n\nUser: Question 0?\nAssistant:", "chosen": "  kind fair gentle words\n",
                       "rejected": "  foul vile base\n"}  # the transcript's "Assistant: {content}\n"

    st = ok(api.post("/api/train/start", json={"method": "dpo", "steps": 20, "lr": 1e-3, "batch_size": 4,
                                              "beta": 0.1}))
    assert st["running"] and st["method"] == "dpo" and st["base_model"] == TINY
    r = api.post("/api/train/start", json={"method": "sft", "steps": 2})
    assert r.status_code == 409 and r.json()["status"] == "error"
    st = wait_for(api, "done")
    assert st["step"] == 20 and st["total_steps"] == 20 and st["loss"] > 0 and st["margin"] is not None
    assert st["log_count"] >= 20 and all({"time", "message"} <= e.keys() for e in st["recent_logs"])

    models = [m["id"] for m in api.get("/v1/models").json()["data"]]
    assert st["model"] in models
    r = api.post("/v1/chat/completions", json={"model": st["model"], "max_tokens": 8,
                                               "messages": [{"role": "user", "content": "Question 1?"}]})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == st["model"] and isinstance(r.json()["choices"][0]["message"]["content"], str)
    assert ok(api.post("/api/model/unload"))["model"] == TINY
    assert ok(api.get("/api/model/status"))["model_loaded"] is False


def test_websocket_log_and_stop_keeps_the_checkpoint(live, api):
    if ok(api.get("/api/dataset/stats"))["preference"]["count"] == 0:
        ok(api.post("/api/dataset/add", json={"mode": "single", "human_input": "a", "chosen": "b", "rejected": "c"}))
    ws = websocket.create_connection(live.url.replace("http", "ws") + f"/ws/train/logs?key={KEYS[1]}", timeout=30)
    try:
        first, second = json.loads(ws.recv()), json.loads(ws.recv())
        assert first["type"] == "history" and isinstance(first["logs"], list)
        assert second["type"] == "status" and second["running"] is False
        st = ok(api.post("/api/train/start", json={"method": "sft", "steps": 5000, "lr": 1e-4, "batch_size": 2,
                                                  "name": "stopped-sft"}))
        assert st["model"] == "stopped-sft"
        seen: dict[str, list] = {}
        ws.send("ping")
        while not ({"log", "heartbeat", "pong"} <= seen.keys() and any(
                m["message"].startswith("step ") for m in seen["log"])):
            msg = json.loads(ws.recv())
            seen.setdefault(msg["type"], []).append(msg)
        assert any(m["running"] for m in seen["status"])
        assert all(isinstance(m["time"], str) and isinstance(m["message"], str) for m in seen["log"])
        ok(api.post("/api/train/stop"))
        while True:  # the status message of the end arrives on the socket
            msg = json.loads(ws.recv())
            if msg["type"] == "status" and not msg["running"]:
                break
        assert msg["status"] == "stopped", msg
    finally:
        ws.close()
    st = ok(api.get("/api/train/status"))
    assert st["status"] == "stopped" and any(e["message"].startswith("# stopped by SIGTERM") for e in st["recent_logs"])
    assert "stopped-sft" in [m["id"] for m in api.get("/v1/models").json()["data"]]
    assert api.post("/api/train/start", json={"name": "stopped-sft", "steps": 1}).status_code == 409  # name taken
    with pytest.raises(websocket.WebSocketBadStatusException) as e:  # no key, no log
        websocket.create_connection(live.url.replace("http", "ws") + "/ws/train/logs", timeout=10)
    assert e.value.status_code == 401


def test_thinking_markers_of_a_transcript_format():
    from web.annotate_text import generation_prompt, split_thinking, to_text
    from web.chat_format import ChatFormat
    from web.protocol import Message

    fmt = ChatFormat(thinking=("<think>", "</think>"))
    msgs = [Message("user", "Hi")]
    assert generation_prompt(fmt, msgs, True) == ("User: Hi\nAssistant:<think>", True)
    assert generation_prompt(fmt, msgs, False) == ("User: Hi\nAssistant:<think></think>", False)
    assert generation_prompt(ChatFormat(), msgs, True) == ("User: Hi\nAssistant:", False)
    assert split_thinking(" hmm, a guest </think> Welcome!", fmt, opened=True) == ("hmm, a guest", "Welcome!")
    assert split_thinking("<think>x</think>y", fmt, opened=False) == ("x", "y")
    assert split_thinking("still thinking", fmt, opened=True) == ("still thinking", "")  # cut off
    assert split_thinking(" plain", ChatFormat(), opened=False) == (None, "plain")
    rec = {"human_input": "Hi", "chosen": "Welcome!", "chosen_thinking": "a guest", "rejected": "Go.", "context": []}
    assert to_text(rec, fmt) == {"prompt": "User: Hi\nAssistant:", "chosen": "<think>a guest</think> Welcome!\n",
                                 "rejected": "<think></think> Go.\n"}  # as the generation prompts put it
