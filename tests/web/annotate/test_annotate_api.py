"""The annotation loop end to end against a live gunicorn+gevent server: load, generate candidates, add records,
export, train on CPU, serve the result; the training log over the WebSocket; stop keeps the last checkpoint."""
from __future__ import annotations

import json
import sys
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
    assert r.status_code == 409 and "load" in r.json()["message"]  # a valid request; the state is not there yet
    r = api.post("/api/model/load", json={"model": "nope.pt"})
    assert r.status_code == 404 and r.json()["status"] == "error"
    r = api.post("/api/model/load", json={"num_responses": 11})
    assert r.status_code == 400 and "num_responses" in r.json()["message"]
    r = api.post("/api/dataset/add", json={"mode": "single", "human_input": "x", "chosen": "y"})
    assert r.status_code == 400 and "rejected" in r.json()["message"]
    assert api.post("/api/train/start", json={"steps": 2}).status_code == 409  # nothing to train on yet


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


def test_stop_right_after_start_still_saves(live, api):
    # the stop arrives while model.finetune is still importing torch, before its handler exists
    if ok(api.get("/api/dataset/stats"))["preference"]["count"] == 0:
        ok(api.post("/api/dataset/add", json={"mode": "single", "human_input": "a", "chosen": "b", "rejected": "c"}))
    ok(api.post("/api/train/start", json={"method": "sft", "steps": 5000, "batch_size": 2, "name": "stopped-at-once"}))
    ok(api.post("/api/train/stop"))
    st = wait_for(api, "stopped")
    assert any(e["message"].startswith("# stopped by SIGTERM at step 0") for e in st["recent_logs"]), st
    assert "stopped-at-once" in [m["id"] for m in api.get("/v1/models").json()["data"]]


def test_thinking_markers_of_a_transcript_format():
    from engine import ChatFormat, Message
    from web.annotate.text import generation_prompt, split_thinking, to_text

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


# --- in-process (the Flask test client) ---------------------------------------------------------------------

@pytest.fixture
def flask_client(make_app):
    return make_app().test_client()


def envelope_error(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert body["status"] == "error" and body["data"] is None and body["detail"] == body["message"], body
    return body


def test_a_poisoned_load_stores_nothing(flask_client):
    """Validate, then apply: a body that fails (here a lone surrogate, which sqlite and JSON cannot encode) leaves
    the settings as they were, so status and dataset/add keep working."""
    bad = flask_client.post("/api/model/load", headers=AUTH, data='{"num_responses": 3, "system_prompt": "\\ud800"}',
                      content_type="application/json")
    assert "system_prompt" in envelope_error(bad, 400)["message"]
    status = flask_client.get("/api/model/status", headers=AUTH)
    assert status.status_code == 200 and status.get_json()["data"]["model_loaded"] is False
    added = flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a", "rejected": "b"})
    assert added.status_code == 200, added.get_data(as_text=True)
    for field in ("human_input", "chosen", "rejected", "chosen_thinking", "system_prompt"):
        body = {"human_input": "q", "chosen": "a", "rejected": "b", field: "x"}
        text = json.dumps(body).replace('"x"', '"\\udfff"')
        envelope_error(flask_client.post("/api/dataset/add", headers=AUTH, data=text, content_type="application/json"),
                       400)
    assert flask_client.get("/api/dataset/stats", headers=AUTH).get_json()["data"]["preference"]["count"] == 1
    # a valid load after the bad one applies, and only it
    ok_load = flask_client.post("/api/model/load", headers=AUTH, json={"num_responses": 3, "system_prompt": "Be kind."})
    assert ok_load.status_code == 200 and ok_load.get_json()["data"]["config"]["num_responses"] == 3
    assert flask_client.post("/api/model/load", headers=AUTH, json={"num_responses": 2, "top_p": 7}).status_code == 400
    config = flask_client.get("/api/model/status", headers=AUTH).get_json()["data"]["config"]
    assert (config["num_responses"], config["top_p"], config["system_prompt"]) == (3, 0.9, "Be kind.")


def test_every_api_error_is_in_the_envelope(flask_client, make_app, monkeypatch):
    assert "not found" in envelope_error(flask_client.get("/api/nope", headers=AUTH), 404)["message"].lower()
    envelope_error(flask_client.get("/api/model/load", headers=AUTH), 405)
    small = make_app(max_request_bytes=1024).test_client()
    envelope_error(small.post("/api/dataset/add", headers=AUTH, json={"human_input": "x" * 2000, "chosen": "a"}),
                   413)
    envelope_error(flask_client.post("/api/dataset/add", headers=AUTH, data="{", content_type="application/json"), 400)
    envelope_error(flask_client.get("/ws/train/logs", headers=AUTH), 400)  # a WebSocket route, asked without upgrade
    from web.annotate import store as annotate_store
    monkeypatch.setattr(annotate_store.Store, "counts", lambda self: {}["bug"])
    assert "KeyError" in envelope_error(flask_client.get("/api/dataset/stats", headers=AUTH), 500)["message"]
    # and the other routes keep OpenAI's shape
    assert flask_client.get("/v1/nope", headers=AUTH).get_json()["error"]["code"] == "not_found"


def test_dataset_routes_show_the_file_name_only(flask_client):
    d = flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a", "rejected": "b"})
    assert d.get_json()["data"]["file"] == "annotate.sqlite3"
    stats = flask_client.get("/api/dataset/stats", headers=AUTH).get_json()["data"]
    assert {v["file"] for v in stats.values()} == {"annotate.sqlite3"}


def test_required_fields_and_modes(flask_client):
    r = flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a"})
    assert "rejected" in envelope_error(r, 400)["message"]  # single mode
    r = flask_client.post("/api/dataset/add", headers=AUTH, json={"mode": "multi", "human_input": "q", "chosen": "a"})
    assert r.status_code == 200 and r.get_json()["data"]["dataset"] == "roleplay"
    r = flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "  ", "chosen": "a", "rejected": "b"})
    assert "'human_input' must not be blank" in envelope_error(r, 400)["message"]
    r = flask_client.post("/api/generate", headers=AUTH, json={"message": "x", "context": [{"role": "system",
                                                                                      "content": "x"}]})
    assert "'context[0].role'" in envelope_error(r, 400)["message"]  # validated before the state is looked at
    assert "'steps'" in envelope_error(flask_client.post("/api/train/start", headers=AUTH, json={"steps": 0}), 400)[
        "message"]


@pytest.mark.parametrize("name,folder", [("éè", "éè"), ("e\u0301te\u0301", "été"), ("mon modèle", "mon-modèle"),
                                         ("模型-v2", "模型-v2")])
def test_a_training_name_keeps_its_letters(flask_client, monkeypatch, name, folder):
    """A user's name for the new model keeps its letters, of any script (it used to become "model")."""
    from web.annotate import jobs as annotate_jobs
    real_popen = annotate_jobs.subprocess.Popen
    monkeypatch.setattr(annotate_jobs.subprocess, "Popen",  # no real training: a child that exits at once
                        lambda cmd, **kw: real_popen([sys.executable, "-c", "pass"], **kw))
    flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a", "rejected": "b"})
    r = flask_client.post("/api/train/start", headers=AUTH, json={"name": name, "steps": 1})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["data"]["model"] == folder


@pytest.mark.parametrize("name", ["!!!", "..", "-", "é" * 101, "模" * 70])
def test_a_training_name_that_cannot_be_a_folder_is_refused(flask_client, name):
    flask_client.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a", "rejected": "b"})
    r = flask_client.post("/api/train/start", headers=AUTH, json={"name": name, "steps": 1})
    assert "'name'" in envelope_error(r, 400)["message"]
