"""Fixtures of the web tests: tiny checkpoints written by tests/checkpoints.py into a temporary MODEL_DIR, and
the real servers that serve them (started on first use, shared by the session)."""
from __future__ import annotations

from pathlib import Path

import openai
import pytest

from checkpoints import tiny_model, write_hf, write_nanogpt
from live_server import KEYS, MEDIUM, TINY, Server
from web.app import create_app


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    write_nanogpt(d / TINY, tiny_model(0))
    write_hf(d / "tiny-hf", tiny_model(1))
    write_nanogpt(d / MEDIUM, tiny_model(2, n_layer=4, n_head=4, n_embd=256, block_size=256))
    (d / "notes.txt").write_text("not a checkpoint")
    return d


@pytest.fixture
def make_app(model_dir, tmp_path):
    """In-process apps over the tiny models (the Flask test client), closed at the end of the test."""
    apps = []

    def make(**overrides):
        app = create_app({"model_dir": str(model_dir), "api_keys": KEYS, "TESTING": True,
                          "data_dir": str(tmp_path / "data"), **overrides})
        settings = app.extensions["nanogpt"].config.model
        settings.checkpoint, settings.device = str(model_dir / TINY), "cpu"
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["nanogpt"].registry.close()


@pytest.fixture(scope="session")
def servers(model_dir, tmp_path_factory):
    """Started on first use, one per (kind, settings), stopped at the end of the session."""
    started: dict[tuple, Server] = {}
    log_dir = tmp_path_factory.mktemp("server-logs")

    def get(kind: str, **env) -> Server:
        key = (kind, tuple(sorted(env.items())))
        if key not in started:
            started[key] = Server(kind, model_dir, log_dir, **env)
        return started[key]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session", params=["gunicorn", "dev"])
def server(request, servers) -> Server:
    """Each SDK test runs against gunicorn+gevent and against the threaded dev server."""
    return servers(request.param)


@pytest.fixture
def client(server) -> openai.OpenAI:
    with server.client() as c:  # closed, or its pooled sockets warn (filterwarnings = error)
        yield c
