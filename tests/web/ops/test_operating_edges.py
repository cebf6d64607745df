"""Operating edges, in-process: bad checkpoint files next to good ones, request ids, metrics from the start, and
what a forced unload answers to the requests it ends."""
from __future__ import annotations

import json
import threading
import time

import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families

from checkpoints import tiny_model, write_nanogpt
from live_server import KEYS, TINY

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


def _bad_checkpoints(directory) -> None:
    huge = {"n_layer": 1_000_000, "n_head": 1, "n_embd": 8, "n_positions": 8}
    (directory / "huge-hf").mkdir()
    (directory / "huge-hf" / "config.json").write_text(json.dumps(huge))
    header = b"{}"
    (directory / "huge-hf" / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    torch.save({"model": {}, "model_args": {"n_layer": 1_000_000, "n_head": 1, "n_embd": 8, "block_size": 8,
                                            "vocab_size": 50304, "bias": False}}, directory / "huge.pt")
    torch.save({"model": {}, "model_args": "n_layer=12"}, directory / "string-args.pt")


def test_bad_checkpoints_get_clear_errors_while_another_model_serves(make_app, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    write_nanogpt(models / TINY, tiny_model(0))
    _bad_checkpoints(models)
    client = make_app(model_dir=str(models)).test_client()
    for bad in ("huge-hf", "huge.pt", "string-args.pt"):
        t0 = time.monotonic()
        card = client.get(f"/v1/models/{bad}", headers=AUTH)
        assert card.status_code == 200 and card.json["error"], card.json  # described, with what is wrong
        r = client.post("/v1/completions", headers=AUTH, json={"model": bad, "prompt": "x", "max_tokens": 2})
        assert r.status_code == 400 and r.json["error"]["code"] == "model_not_loadable", r.json
        assert time.monotonic() - t0 < 5
        ok = client.post("/v1/completions", headers=AUTH, json={"model": TINY, "prompt": "x", "max_tokens": 2})
        assert ok.status_code == 200


def test_every_response_carries_a_request_id(make_app):
    client = make_app().test_client()
    responses = [client.get("/health"), client.get("/v1/models"), client.get("/v1/models", headers=AUTH),
                 client.post("/v1/completions", headers=AUTH, data="{"), client.get("/nowhere"),
                 client.post("/v1/completions", headers=AUTH, json={"prompt": "x", "max_tokens": 2})]
    ids = [r.headers.get("X-Request-Id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    assert client.get("/health", headers={"X-Request-Id": "my-trace-7"}).headers["X-Request-Id"] == "my-trace-7"
    odd = client.get("/health", headers={"X-Request-Id": "x" * 500}).headers["X-Request-Id"]
    assert odd != "x" * 500 and len(odd) == 32  # not echoed: a fresh one


def _series(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_exported_from_the_start(make_app):
    # in one process the families are shared by every app; a fresh server's zeros: test_production.py
    app = make_app()
    client = app.test_client()
    series = _series(client.get("/metrics").text)
    labels = (("model_name", TINY),)
    for name in ("vllm:num_requests_running", "vllm:time_to_first_token_seconds_count",
                 "vllm:generation_tokens_total", "vllm:e2e_request_latency_seconds_count"):
        assert (name, labels) in series
    client.post("/v1/models/medium.pt/load", headers=AUTH)
    assert ("vllm:num_requests_waiting", (("model_name", "medium.pt"),)) in _series(client.get("/metrics").text)


@pytest.mark.parametrize("route", ["/v1/models/medium.pt/unload", "/api/model/unload"])
def test_forced_unload_answers_what_it_ends_with_a_503(make_app, route):
    """Both unload routes: 409 while other users' requests run on the model, unless ?force=true."""
    app = make_app()
    client = app.test_client()
    client.post("/api/model/load", headers=AUTH, json={"model": "medium.pt"})
    result = {}

    def long_request():
        result["r"] = app.test_client().post("/v1/completions", headers=AUTH, json={
            "model": "medium.pt", "prompt": "x", "max_tokens": 4000, "ignore_eos": True})

    worker = threading.Thread(target=long_request)
    worker.start()
    engine = app.extensions["nanogpt"].registry.get("medium.pt").engine
    deadline = time.monotonic() + 30
    while not engine.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    busy = client.post(route, headers=AUTH)
    assert busy.status_code == 409
    assert (busy.json.get("status") == "error") == route.startswith("/api/")  # each route's own error shape
    assert client.post(route + "?force=true", headers=AUTH).status_code == 200
    worker.join(30)
    r = result["r"]
    assert r.status_code == 503 and r.json["error"]["code"] == "model_unloading" and r.headers["Retry-After"]

