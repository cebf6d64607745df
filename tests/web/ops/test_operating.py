"""Issue 7 in-process (Flask test client): model management, the simple API, /tokenize, /metrics, the OpenAPI
document and the terminal client's context handling."""
from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from live_server import KEYS, MEDIUM, TINY
from web.ops import openapi
from web.app import create_app
from web.client import api_base, context

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
VLLM_NAMES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:time_to_first_token_seconds",
              "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds", "vllm:prompt_tokens_total",
              "vllm:generation_tokens_total")


@pytest.fixture(scope="module")
def app(model_dir):
    app = create_app({"model_dir": str(model_dir), "api_keys": KEYS, "TESTING": True})
    settings = app.extensions["nanogpt"].config.model
    settings.checkpoint, settings.device = str(model_dir / TINY), "cpu"
    yield app
    app.extensions["nanogpt"].registry.close()


@pytest.fixture
def client(app):
    return app.test_client()


def loaded_ids(app) -> list[str]:
    return [m.id for m in app.extensions["nanogpt"].registry.loaded()]


def test_model_details_read_without_loading(app, client):
    app.extensions["nanogpt"].registry.unload(TINY)
    d = client.get(f"/v1/models/{TINY}", headers=AUTH).get_json()
    assert d["id"] == TINY and d["object"] == "model" and d["loaded"] is False
    assert (d["format"], d["n_layer"], d["n_head"], d["n_embd"], d["block_size"]) == ("nanogpt", 2, 2, 32, 64)
    assert d["step"] == 250 and d["val_loss"] == pytest.approx(1.4697, abs=1e-4)  # tests/checkpoints.py
    assert (d["vocab_size"], d["n_vocab"], d["tokenizer"]) == (50304, 50257, "gpt2")
    assert d["device"] == "cpu" and d["dtype"] == d["kv_cache_dtype"] == "float32"
    assert TINY not in loaded_ids(app)  # reading the details loaded nothing
    hf = client.get("/v1/models/tiny-hf", headers=AUTH).get_json()
    assert hf["format"] == "huggingface" and hf["step"] is None and hf["val_loss"] is None
    loaded = client.post(f"/v1/models/{TINY}/load", headers=AUTH).get_json()
    assert loaded["loaded"] is True and loaded["parameters"] == d["parameters"]  # file and model agree
    assert client.get("/v1/models/nope", headers=AUTH).status_code == 404
    assert client.get(f"/v1/models/{TINY}").status_code == 401


def test_load_unload_and_health(app, client):
    assert client.post(f"/v1/models/{MEDIUM}/load").status_code == 401
    r = client.post(f"/v1/models/{MEDIUM}/load", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["loaded"] is True
    health = client.get("/health").get_json()
    assert MEDIUM in health["models_loaded"] and health["queue_depth"] == 0 and health["gpus"] == []  # CPU
    r = client.post(f"/v1/models/{MEDIUM}/unload", headers=AUTH).get_json()
    assert r["unloaded"] is True and r["loaded"] is False
    assert MEDIUM not in client.get("/health").get_json()["models_loaded"]
    assert client.post(f"/v1/models/{MEDIUM}/unload", headers=AUTH).get_json()["unloaded"] is False
    assert client.post("/v1/models/nope/unload", headers=AUTH).status_code == 404
    assert client.post("/v1/models/nope/load", headers=AUTH).get_json()["error"]["code"] == "model_not_found"


def test_unload_with_work_in_flight_needs_force(app, client):
    body = {"model": MEDIUM, "prompt": "x", "max_tokens": 200, "ignore_eos": True, "stream": True}
    r = client.post("/v1/completions", json=body, headers=AUTH, buffered=False)
    stream = iter(r.response)
    next(stream)  # the first frame: the sequence is in the decoder
    busy = client.post(f"/v1/models/{MEDIUM}/unload", headers=AUTH)
    assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "model_busy"
    forced = client.post(f"/v1/models/{MEDIUM}/unload?force=true", headers=AUTH)
    assert forced.status_code == 200 and forced.get_json()["unloaded"] is True
    rest = b"".join(stream).decode()
    assert '"error"' in rest and rest.rstrip().endswith("data: [DONE]")  # the stream ends cleanly, with the error
    r.close()


def test_simple_api_is_the_openai_path(client):
    common = {"max_tokens": 6, "temperature": 0}
    g = client.post("/generate", json={"prompt": "Hello", **common}, headers=AUTH).get_json()
    o = client.post("/v1/completions", json={"prompt": "Hello", **common}, headers=AUTH).get_json()
    assert g["generated_text"] == o["choices"][0]["text"] and g["usage"] == o["usage"] and g["model"] == TINY
    c = client.post("/chat", json={"messages": [{"role": "user", "content": "Hi"}], **common}, headers=AUTH)
    oc = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}], **common},
                     headers=AUTH).get_json()
    assert c.get_json()["response"] == oc["choices"][0]["message"]["content"]
    b = client.post("/batch", json={"prompts": ["Hello", "World"], **common}, headers=AUTH).get_json()
    assert b["results"][0] == g["generated_text"] and len(b["results"]) == 2
    assert b["usage"]["completion_tokens"] == 12
    info = client.get("/model/info", headers=AUTH).get_json()
    assert info["model_name"] == TINY and info["status"] == "loaded" and info["n_layer"] == 2
    s = client.post("/generate", json={"prompt": "Hello", "stream": True, **common}, headers=AUTH)
    assert s.mimetype == "text/event-stream" and s.get_data(as_text=True).rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("path,body,param", [
    ("/generate", {"prompt": "x", "temperature": 5}, "temperature"),
    ("/generate", {}, "prompt"),
    ("/generate", {"prompt": ["a", "b"]}, "prompt"),
    ("/generate", {"prompt": "x", "n": 2}, "n"),
    ("/chat", {"messages": []}, "messages"),
    ("/chat", {"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role"),
    ("/batch", {"prompts": "one"}, "prompts"),
    ("/batch", {"prompts": [1.5]}, "prompts"),
    ("/batch", {"prompts": ["a"], "top_p": 2}, "top_p"),
    ("/tokenize", {"prompt": 3}, "prompt"),
    ("/tokenize", {"messages": "hi"}, "messages"),
    ("/detokenize", {"tokens": [99999999]}, "tokens[0]"),
])
def test_simple_api_errors_are_openai_errors(client, path, body, param):
    r = client.post(path, json=body, headers=AUTH)
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error"


def test_simple_api_and_tokenizer_need_the_key(client):
    for path in ("/generate", "/chat", "/batch", "/tokenize", "/detokenize"):
        r = client.post(path, json={})
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "missing_api_key"
    assert client.get("/model/info").status_code == 401
    assert client.post("/generate", data="{", headers=AUTH).get_json()["error"]["code"] == "invalid_json"


def test_root_answers_json_to_json_clients(client):
    j = client.get("/", headers={"Accept": "application/json"})
    assert j.mimetype == "application/json" and j.get_json()["docs"] == "/docs" and j.headers["Vary"] == "Accept"
    assert j.get_json()["default_model"] == TINY
    for accept in ("text/html,application/xhtml+xml,*/*;q=0.8", "*/*"):
        assert client.get("/", headers={"Accept": accept}).mimetype == "text/html"


def test_tokenize_and_detokenize(client):
    t = client.post("/tokenize", json={"prompt": "Hello world", "return_token_strs": True}, headers=AUTH).get_json()
    assert t["tokens"] == [15496, 995] and t["count"] == 2 and t["max_model_len"] == 64
    assert t["token_strs"] == ["Hello", " world"]
    d = client.post("/detokenize", json={"model": TINY, "tokens": t["tokens"]}, headers=AUTH).get_json()
    assert d == {"prompt": "Hello world"}
    chat = client.post("/tokenize", json={"messages": [{"role": "user", "content": "Hi"}]}, headers=AUTH).get_json()
    assert client.post("/detokenize", json={"tokens": chat["tokens"]}, headers=AUTH).get_json()["prompt"] == \
        "User: Hi\nAssistant:"  # the transcript chat generation continues
    assert client.post("/tokenize", json={"model": "nope", "prompt": "x"}, headers=AUTH).status_code == 404


def scrape(client) -> dict[tuple, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted({"model_name": TINY, **labels}.items()))), 0.0)


def test_metrics_change_after_requests(client):
    r = client.get("/metrics")  # public, like /health
    assert r.status_code == 200 and r.mimetype == "text/plain"
    before = scrape(client)
    body = {"prompt": "Hello world", "max_tokens": 5, "ignore_eos": True, "temperature": 0}
    assert client.post("/v1/completions", json=body, headers=AUTH).status_code == 200
    streamed = client.post("/v1/chat/completions", headers=AUTH, json={
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "ignore_eos": True, "stream": True})
    streamed.get_data()
    after = scrape(client)
    text = client.get("/metrics").get_data(as_text=True)
    for name in VLLM_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vllm:generation_tokens_total") == 8
    assert delta("vllm:prompt_tokens_total") == 2 + 6  # "Hello world" and "User: Hi\nAssistant:"
    assert delta("vllm:time_to_first_token_seconds_count") == 2
    assert delta("vllm:e2e_request_latency_seconds_count") == 2
    assert delta("vllm:inter_token_latency_seconds_count") == 4 + 2
    assert delta("vllm:request_success_total", finished_reason="length") == 2
    assert value(after, "vllm:num_requests_running") == 0 and value(after, "vllm:num_requests_waiting") == 0


def test_openapi_document_is_valid_and_lists_every_route(app, client):
    doc = client.get("/openapi.json").get_json()
    validate(doc)  # OpenAPI 3.1, by openapi-spec-validator
    assert doc["openapi"].startswith("3.1")
    for rule in app.url_map.iter_rules():
        if rule.websocket:  # not an HTTP operation: named in the description instead
            assert rule.rule in doc["info"]["description"] and rule.rule not in doc["paths"]
            continue
        path, _ = openapi._path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"].get(path, {}), f"{method} {rule.rule} is not in the document"
    # every route of these blueprints has its own description, request and responses; a blueprint added later
    # is listed from its docstrings until it documents itself (openapi.py's module docstring says how)
    ours = ("openai.", "playground.", "simple.", "ops.", "swagger_ui.",
            "static", "annotate.")
    assert [u for u in openapi.undocumented(app) if u.split("(")[1].startswith(ours)] == []
    for path in ("/generate", "/chat", "/batch", "/tokenize", "/v1/completions", "/v1/chat/completions",
                 "/api/model/load", "/api/generate", "/api/dataset/add", "/api/train/start"):
        op = doc["paths"][path]["post"]
        assert "requestBody" in op and {"200", "400", "401", "413"} <= set(op["responses"]), path
        error = op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
        assert error.endswith("/AnnotateError" if path.startswith("/api/") else "/Error"), path
    assert doc["paths"]["/health"]["get"].get("security") is None  # public routes say so
    html = client.get("/docs/").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in html and "/openapi.json" in html
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html  # no CDN
    asset = client.get("/docs/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()  # a file response: unclosed, it warns (filterwarnings = error)


def test_client_context_keeps_the_last_messages():
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": str(i)} for i in range(7)]
    msgs = context("Be brief.", history, 3)
    assert msgs[0] == {"role": "system", "content": "Be brief."} and [m["content"] for m in msgs[1:]] == \
        ["4", "5", "6"]
    assert context(None, history, 0) == [] and len(context(None, history, 100)) == 7
    assert api_base("http://h:1") == "http://h:1/v1" and api_base("http://h:1/v1/") == "http://h:1/v1"
    assert api_base("http://h/api/openai/v1") == "http://h/api/openai/v1"
    assert json.dumps(context("s", [], 5)) == '[{"role": "system", "content": "s"}]'


def test_request_schemas_are_the_validating_models(app, client):
    """/docs promises what is validated: the request bodies are the pydantic models' own JSON schemas."""
    from web.openai.protocol import MAX_LOGIT_BIAS, MAX_STOP, MAX_STOP_CHARS, ChatBody

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    chat = schemas["ChatBody"]["properties"]
    assert set(chat) == set(ChatBody.model_fields)
    bias = chat["logit_bias"]["anyOf"][0]
    assert bias["maxProperties"] == MAX_LOGIT_BIAS
    assert chat["stop"]["anyOf"][1] == {"type": "array", "maxItems": MAX_STOP,
                                        "items": {"type": "string", "maxLength": MAX_STOP_CHARS}}
    assert chat["max_tokens"]["anyOf"][0]["maximum"] == app.extensions["nanogpt"].config.max_tokens_limit
    assert schemas["ChatMessage"]["properties"]["role"]["enum"] == ["system", "developer", "user", "assistant", "tool",
                                                                   "function"]
    assert schemas["TrainStartBody"]["properties"]["steps"]["anyOf"][0] == {"type": "integer", "minimum": 1,
                                                                          "maximum": 1_000_000}
