"""The app in-process (Flask test client): the factory, the engine's failure paths, overload and caching."""
from __future__ import annotations

import json
import time

import pytest

from live_server import KEYS, TINY
from model import SamplingParams
from web.app import create_app

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


def frames(response) -> list:
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_factory(make_app):
    app = make_app()
    assert app.testing and app.extensions["nanogpt"].config.api_keys == KEYS
    assert not create_app({"api_keys": ("x",)}).testing
    with pytest.raises(TypeError):
        create_app({"no_such_setting": 1})


def test_mid_stream_error_is_a_data_frame_then_done(make_app, monkeypatch):
    app = make_app()
    client = app.test_client()
    body = {"model": TINY, "prompt": "x", "max_tokens": 50, "stream": True}
    # loads the model; not streamed, so that no sequence is still decoding when the step breaks (a stream left
    # unread was cancelled by the engine's next tick, or met the broken step first and took the failure)
    warm = client.post("/v1/completions", json={**body, "stream": False, "max_tokens": 1}, headers=AUTH)
    assert warm.status_code == 200
    engine = app.extensions["nanogpt"].registry.get(TINY).engine

    def broken_step():
        raise RuntimeError("simulated device failure")

    monkeypatch.setattr(engine.decoder, "step", broken_step)
    got = frames(client.post("/v1/completions", json=body, headers=AUTH))
    assert got[0]["choices"][0]["text"] is not None  # the first token comes from prefill, before the failure
    assert got[-2]["error"]["code"] == "generation_failed" and "simulated" in got[-2]["error"]["message"]
    assert got[-1] == "[DONE]"
    # the engine replaced its decoder and keeps serving
    res = client.post("/v1/completions", json={**body, "stream": False, "max_tokens": 3}, headers=AUTH)
    assert res.status_code == 200 and res.json["usage"]["completion_tokens"] == 3


def test_engine_failure_without_stream_is_500(make_app, monkeypatch):
    app = make_app()
    client = app.test_client()
    engine = app.extensions["nanogpt"].registry.get(TINY).engine
    monkeypatch.setattr(engine.decoder, "add_many", lambda *a: 1 / 0)
    res = client.post("/v1/completions", json={"model": TINY, "prompt": "x"}, headers=AUTH)
    assert res.status_code == 500 and res.json["error"]["type"] == "server_error"
    assert engine.in_flight == 0


def test_our_bug_is_500_in_openai_shape(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(app.extensions["nanogpt"].serving, "chat", lambda req: {}["missing"])
    res = app.test_client().post("/v1/chat/completions", headers={**AUTH, "Origin": "http://x"},
                                 json={"messages": [{"role": "user", "content": "hi"}]})
    assert res.status_code == 500 and res.json["error"]["code"] == "internal_error"
    assert res.headers["Access-Control-Allow-Origin"]


def test_busy_engine_is_503_with_retry_after(make_app):
    app = make_app(max_batch=1, max_queue=1)
    engine = app.extensions["nanogpt"].registry.get(TINY).engine
    long = SamplingParams(max_tokens=4000, ignore_eos=True)
    held = engine.submit([[1], [2]], [long, long])  # one running, one waiting: full
    try:
        res = app.test_client().post("/v1/completions", json={"model": TINY, "prompt": "x"}, headers=AUTH)
        assert res.status_code == 503 and res.headers["Retry-After"] == "1"
        assert res.json["error"]["code"] == "server_busy"
    finally:
        held.close()
    deadline = time.monotonic() + 5
    while engine.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.in_flight == 0 and engine.running == 0  # closing cancelled both sequences


def test_model_cache_is_bounded(make_app):
    app = make_app(model_cache_size=1)
    client = app.test_client()
    for model in (TINY, "tiny-hf"):
        res = client.post("/v1/completions", json={"model": model, "prompt": "x", "max_tokens": 1}, headers=AUTH)
        assert res.status_code == 200 and res.json["model"] == model
    assert client.get("/health").json["models_loaded"] == ["tiny-hf"]


def test_served_model_name_alias(make_app):
    app = make_app(served_model_name="nanogpt-mini")
    client = app.test_client()
    ids = [m["id"] for m in client.get("/v1/models", headers=AUTH).json["data"]]
    assert ids[0] == "nanogpt-mini" and TINY in ids
    res = client.post("/v1/chat/completions", headers=AUTH, json={"messages": [{"role": "user", "content": "x"}],
                                                                   "max_tokens": 2})
    assert res.status_code == 200 and res.json["model"] == "nanogpt-mini"  # no model: the default one


def test_unreadable_checkpoint_is_a_clear_400(make_app, tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    app = make_app(model_dir=str(tmp_path))
    res = app.test_client().post("/v1/completions", json={"model": "broken.pt", "prompt": "x"}, headers=AUTH)
    assert res.status_code == 400 and res.json["error"]["code"] == "model_not_loadable"
    assert "broken.pt" in res.json["error"]["message"]


def test_errors_carry_cors_headers(make_app):
    client = make_app(max_request_bytes=100).test_client()
    origin = {"Origin": "http://lobe.example"}
    for res in (client.post("/v1/completions", data="x" * 1000, headers={**AUTH, **origin}),
                client.get("/v1/nothing", headers={**AUTH, **origin}),
                client.delete("/v1/models", headers={**AUTH, **origin})):
        assert res.status_code in (413, 404, 405) and res.json["error"]["type"] == "invalid_request_error"
        assert res.headers["Access-Control-Allow-Origin"] == "http://lobe.example"


def test_token_id_prompts_are_checked_against_the_vocabulary(make_app):
    client = make_app().test_client()
    res = client.post("/v1/completions", json={"model": TINY, "prompt": [50257], "max_tokens": 1}, headers=AUTH)
    assert res.status_code == 400 and res.json["error"]["param"] == "prompt"
    res = client.post("/v1/completions", json={"model": TINY, "prompt": "", "max_tokens": 1}, headers=AUTH)
    assert res.status_code == 200 and res.json["usage"]["prompt_tokens"] == 1  # starts from <|endoftext|>


def test_chat_format_of_the_model_strips_and_stops(make_app, model_dir, tmp_path):
    (tmp_path / "chatty.pt").symlink_to(model_dir / TINY)
    (tmp_path / "chatty.chat.json").write_text(json.dumps({"stop": ["Hi"]}))
    (tmp_path / "plain.pt").symlink_to(model_dir / TINY)
    app = make_app(model_dir=str(tmp_path))
    client = app.test_client()
    assert app.extensions["nanogpt"].registry.get("chatty.pt").chat.stop == ("Hi",)
    assert app.extensions["nanogpt"].registry.get("plain.pt").chat.stop == ("\nUser:",)
    (hi,) = app.extensions["nanogpt"].registry.get("plain.pt").tokenizer.encode(" Hi")

    def answer(model):
        # greedy with a +100 bias says " Hi Hi Hi..."
        res = client.post("/v1/chat/completions", headers=AUTH, json={
            "model": model, "messages": [{"role": "user", "content": "x"}], "temperature": 0, "max_tokens": 3,
            "logit_bias": {str(hi): 100}})
        return res.json["choices"][0]["message"]["content"], res.json["choices"][0]["finish_reason"]

    assert answer("plain.pt") == ("Hi Hi Hi", "length")  # the answer's leading space is dropped
    assert answer("chatty.pt") == ("", "stop")  # the model's own format stops at "Hi"
