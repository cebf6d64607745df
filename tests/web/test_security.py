"""Security review (issue 9; SECURITY.md states the threat model).

Also covered elsewhere, not repeated: a checkpoint carrying a malicious pickle is refused without running it
(tests/model/test_checkpoint.py::test_malicious_pickle_is_refused_without_running and
::test_malicious_meta_pkl_is_refused); here the same through the server's routes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
import websocket

from live_server import KEYS, REPO, TINY, Server, free_port
from web import auth

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
SECRET = "sk-very-secret-0123456789abcdef"  # the server's key in the logging tests: it must never be logged


# --- keys ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gunicorn", "dev"])
def test_api_keys_never_logged(model_dir, tmp_path, kind):
    server = Server(kind, model_dir, tmp_path, MY_API_KEY=SECRET + ",second-secret-key", LOG_LEVEL="debug",
                    DATA_DIR=str(tmp_path / "data"))
    try:
        good, bad = {"Authorization": f"Bearer {SECRET}"}, {"Authorization": "Bearer wrong-secret-guess-42"}
        with httpx.Client(base_url=server.url, timeout=60) as c:
            assert c.get("/v1/models", headers=good).status_code == 200
            assert c.post("/v1/completions", headers=good, json={"prompt": "x", "max_tokens": 2}).status_code == 200
            assert c.get("/v1/models", headers=bad).status_code == 401
            assert c.get("/api/dataset/stats", headers={"Authorization": "Bearer second-secret-key"}).status_code == 200
            assert c.get(f"/v1/models?key={SECRET}").status_code == 401  # a key in a query string of any route
            assert c.get(f"/api/dataset/stats?key={SECRET}").status_code == 401
        ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws/train/logs?key={SECRET}", timeout=10)
        assert '"history"' in ws.recv()
        ws.close()
        with pytest.raises(websocket.WebSocketException):
            websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws/train/logs?key=wrong-secret-guess-42",
                                        timeout=10).recv()
        time.sleep(0.5)  # let the access log lines reach the file
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert "/ws/train/logs" in log and "/v1/models" in log  # the requests were logged, without their keys
    for key in (SECRET, "second-secret-key", "wrong-secret-guess-42"):
        assert key not in log, f"{key!r} appears in the {kind} log"


def test_keys_compared_in_constant_time(monkeypatch):
    """Every configured key is compared, with hmac.compare_digest, over fixed-length digests: the time taken does
    not depend on which key matched, how much of it matched, or the length of the key tried."""
    keys = ("alpha-key", "b", "a-much-longer-third-key-" * 4)
    checker = auth.KeyChecker(keys)
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    for tried in (*keys, "alpha-kez", "x", "a" * 10_000):
        calls.clear()
        try:
            checker.check(f"Bearer {tried}")
        except auth.Unauthorized:
            assert tried not in keys
        else:
            assert tried in keys
        assert calls == [(32, 32)] * len(keys)  # all keys, each a 32-byte digest against a 32-byte digest
    assert hashlib.sha256(b"x").digest_size == 32


def test_gunicorn_refuses_to_start_without_a_key(model_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MY_API_KEY", "ALLOW_DEFAULT_KEY")}
    env.update(PYTHONPATH=str(REPO), HOST="127.0.0.1", PORT=str(free_port()), MODEL_DIR=str(model_dir),
               MODEL_CHECKPOINT=str(model_dir / TINY), DEVICE="cpu")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    p = subprocess.run([gunicorn, "-c", "gunicorn_config.py", "web.app:app"], cwd=REPO, env=env, timeout=60,
                       capture_output=True, text=True)
    assert p.returncode != 0 and "MY_API_KEY is not set" in p.stdout + p.stderr
    # explicitly allowed: it starts, on the public default key, and says so loudly
    server = Server("gunicorn", model_dir, tmp_path, MY_API_KEY="", ALLOW_DEFAULT_KEY="1")
    try:
        r = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer a_default_key_for_testing"})
        assert r.status_code == 200
    finally:
        server.stop()
    assert "MY_API_KEY is not set" in server.log.read_text()


# --- an in-process app for the rest -------------------------------------------------------------------------

class _Exploit:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))  # would create a file if the pickle were run


def test_malicious_checkpoint_refused_through_the_api(make_app, model_dir, tmp_path):
    evil_dir = tmp_path / "models"
    evil_dir.mkdir()
    target = tmp_path / "pwned"
    torch.save({"model": {}, "model_args": {}, "payload": _Exploit(str(target))}, evil_dir / "evil.pt")
    (evil_dir / TINY).symlink_to(model_dir / TINY)
    c = make_app(model_dir=str(evil_dir)).test_client()
    responses = [c.get("/v1/models/evil.pt", headers=AUTH), c.post("/v1/models/evil.pt/load", headers=AUTH),
                 c.post("/v1/completions", headers=AUTH, json={"model": "evil.pt", "prompt": "x", "max_tokens": 1}),
                 c.post("/api/model/load", headers=AUTH, json={"model": "evil.pt"}),
                 c.get("/model/info?model=evil.pt", headers=AUTH)]
    for r in responses:
        assert 400 <= r.status_code < 500 or (r.status_code == 200 and "refused" in r.get_data(as_text=True)), \
            (r.request.path, r.status_code, r.get_data(as_text=True)[:300])
    assert not target.exists()


TRAVERSAL_IDS = ["../tiny.pt", "..", "../../../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                 "%2Fetc%2Fpasswd", "..%252F..%252Fetc%252Fpasswd", "tiny.pt%00", "tiny.pt\x00.txt", "tiny.pt/../tiny.pt",
                 "./tiny.pt", "notes.txt", "link-out.pt", "a" * 5000, "\\..\\..\\etc\\passwd", "~/x.pt", "~root"]


def test_no_path_outside_model_dir_or_data_dir(make_app, model_dir, tmp_path):
    """No id reaches a file outside MODEL_DIR: every route that takes one looks it up in MODEL_DIR's listing."""
    models = tmp_path / "models"
    models.mkdir()
    (models / TINY).symlink_to(model_dir / TINY)  # the operator's link: a listed model, under its own name
    outside = tmp_path / "outside"
    outside.mkdir()
    (models / "sub").mkdir()  # a plain folder: not a model
    app = make_app(model_dir=str(models))
    c = app.test_client()
    for mid in TRAVERSAL_IDS:
        q = mid.replace("\x00", "%00")
        rs = [c.get(f"/v1/models/{q}", headers=AUTH), c.post(f"/v1/models/{q}/load", headers=AUTH),
              c.post(f"/v1/models/{q}/unload", headers=AUTH),
              c.post("/v1/completions", headers=AUTH, json={"model": mid, "prompt": "x", "max_tokens": 1}),
              c.post("/v1/chat/completions", headers=AUTH,
                     json={"model": mid, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}),
              c.post("/tokenize", headers=AUTH, json={"model": mid, "prompt": "x"}),
              c.post("/generate", headers=AUTH, json={"model": mid, "prompt": "x", "max_tokens": 1}),
              c.get("/model/info", headers=AUTH, query_string={"model": mid}),
              c.post("/api/model/load", headers=AUTH, json={"model": mid}),
              c.post("/api/train/start", headers=AUTH, json={"base_model": mid, "steps": 1}),
              c.get("/api/dataset/export", headers=AUTH, query_string={"format": "text", "model": mid})]
        for r in rs:
            body = r.get_data(as_text=True)
            assert r.status_code in (400, 404, 405), (mid[:40], r.request.path[:80], r.status_code, body[:300])
            assert "root:" not in body
    listed = [m["id"] for m in c.get("/v1/models", headers=AUTH).get_json()["data"]]
    assert listed == [TINY]
    # a training job's name becomes a folder in MODEL_DIR: it cannot climb out, and a huge one is a 400, not a 500
    c.post("/api/dataset/add", headers=AUTH, json={"human_input": "q", "chosen": "a", "rejected": "b"})
    for name in ("a" * 5000,):
        r = c.post("/api/train/start", headers=AUTH, json={"name": name, "steps": 1})
        assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert sorted(p.name for p in models.iterdir()) == sorted([TINY, "sub"])
    assert not list(outside.iterdir())


def test_body_and_prompt_limits(make_app):
    c = make_app(max_request_bytes=4096, max_prompt_tokens=50).test_client()
    big = {"prompt": "a " * 5000, "max_tokens": 1}
    for path in ("/v1/completions", "/generate"):
        r = c.post(path, headers=AUTH, json=big)
        assert r.status_code == 413 and r.get_json()["error"]["code"] == "request_too_large"
    r = c.post("/api/dataset/add", headers=AUTH, json={"human_input": "x" * 10_000, "chosen": "a", "rejected": "b"})
    assert r.status_code == 413
    long_text = "word " * 60  # > 50 tokens, < 4096 bytes
    cases = [("/v1/completions", {"prompt": long_text}), ("/v1/completions", {"prompt": list(range(51))}),
             ("/v1/completions", {"prompt": ["short", long_text]}),
             ("/v1/chat/completions", {"messages": [{"role": "user", "content": long_text}]}),
             ("/generate", {"prompt": long_text}), ("/chat", {"messages": [{"role": "user", "content": long_text}]})]
    for path, body in cases:
        r = c.post(path, headers=AUTH, json={**body, "max_tokens": 1})
        assert r.status_code == 400, (path, r.get_data(as_text=True)[:300])
        assert r.get_json()["error"]["code"] == "prompt_too_long"
    assert c.post("/v1/completions", headers=AUTH, json={"prompt": "word " * 40, "max_tokens": 1}).status_code == 200
    r = c.post("/api/generate", headers=AUTH, json={"message": long_text})
    assert r.status_code in (400, 409), r.get_data(as_text=True)[:300]  # 409: no model loaded for annotation yet
    c.post("/api/model/load", headers=AUTH, json={})
    for _ in range(100):
        if c.get("/api/model/status", headers=AUTH).get_json()["data"].get("model_loaded"):
            break
        time.sleep(0.1)
    r = c.post("/api/generate", headers=AUTH, json={"message": long_text})
    assert r.status_code == 400 and "MAX_PROMPT_TOKENS" in r.get_json()["message"], r.get_data(as_text=True)[:300]


def test_model_output_only_inserted_as_text():
    """Every page builds model text with textContent (never innerHTML and the like), and sends a strict CSP."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(|eval\(|new Function")
    for js in sorted((REPO / "static").glob("*.js")):
        assert not sinks.search(js.read_text()), js.name
    for html in sorted((REPO / "templates").glob("*.html")):
        text = html.read_text()
        assert "|safe" not in text.replace(" ", "") or "tojson" in text, html.name  # autoescape stays on
        assert "<script>" not in re.sub(r'<script type="application/json"[^>]*>', "", text), html.name  # no inline JS


def test_pages_escape_and_send_csp(make_app):
    c = make_app().test_client()
    for path in ("/", "/annotate"):
        r = c.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("origins", ["*", "https://chat.example.com"])
def test_cors_never_credentials_with_wildcard(make_app, origins):
    c = make_app(cors_origins=origins).test_client()
    for origin in ("https://chat.example.com", "https://evil.example.net", "null"):
        pre = c.options("/v1/chat/completions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        actual = c.get("/v1/models", headers={**AUTH, "Origin": origin})
        denied = c.get("/v1/models", headers={"Origin": origin})
        for r in (pre, actual, denied):
            allow = r.headers.get("Access-Control-Allow-Origin")
            creds = r.headers.get("Access-Control-Allow-Credentials")
            assert not (allow == "*" and creds), (origin, dict(r.headers))
            assert creds is None  # the API's key is a header, never a cookie: credentials are never allowed
            if origins != "*":
                assert allow in (None, origin) and (allow is None) == (origin != origins), (origin, allow)


def test_unknown_model_is_named_without_the_listing(make_app):
    """A 404 for a model id points to GET /v1/models rather than listing MODEL_DIR, and never echoes a huge id."""
    c = make_app().test_client()
    for model in ("nope", "a" * 5000):
        for path, body in (("/v1/completions", {"model": model, "prompt": "x", "max_tokens": 1}),
                           ("/api/model/load", {"model": model}), ("/tokenize", {"model": model, "prompt": "x"})):
            r = c.post(path, headers=AUTH, json=body)
            text = r.get_data(as_text=True)
            assert r.status_code == 404 and "/v1/models" in text, (path, text[:300])
            assert "tiny-hf" not in text and "medium.pt" not in text and len(text) < 600, (path, text[:300])


def _chunks(data: bytes, size: int = 4096):
    for i in range(0, len(data), size):  # a generator body: httpx sends it with Transfer-Encoding: chunked
        yield data[i:i + size]


@pytest.mark.parametrize("kind", ["gunicorn", "dev"])
def test_chunked_bodies_are_read_whole_up_to_the_limit(servers, kind):
    """A chunked body has no Content-Length: it is read to its end on every JSON route, and past
    MAX_REQUEST_BYTES (64 KiB on the test servers) it is a 413 in the route's shape, not a cut body's 400."""
    server = servers(kind)
    headers = {**AUTH, "Content-Type": "application/json"}
    fits = "u" * 40_000  # several chunks, under the limit
    too_big = "x" * 70_000
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
        r = c.post("/v1/completions", content=_chunks(json.dumps({"prompt": "x", "max_tokens": 1, "user": fits})
                                                       .encode()))
        assert r.status_code == 200, r.text[:300]
        r = c.post("/v1/completions", content=_chunks(json.dumps({"prompt": too_big}).encode()))
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text[:300]
        r = c.post("/tokenize", content=_chunks(json.dumps({"prompt": "Hello world", "model": TINY, "x": fits})
                                                .encode()))
        assert r.status_code == 200 and r.json()["tokens"] == [15496, 995], r.text[:300]
        r = c.post("/api/model/load", content=_chunks(json.dumps({"num_responses": 3, "system_prompt": fits})
                                                      .encode()))
        assert r.status_code == 200 and r.json()["data"]["config"]["num_responses"] == 3, r.text[:300]
        r = c.post("/api/generate", content=_chunks(json.dumps({"message": too_big}).encode()))
        assert r.status_code == 413 and r.json()["status"] == "error", r.text[:300]
