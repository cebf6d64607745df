"""The WSGI application: `create_app(config=None)`, the module-level `app`, and `python -m web.app`.

`gunicorn -c gunicorn_config.py web.app:app` imports this module in each worker (after gevent patched it),
so nothing here loads a model or touches CUDA: models load on their first request.
"""
from __future__ import annotations

import atexit
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask_cors import CORS

from engine import THREADS, Registry

from . import annotate, errors, metrics, ops, playground, request_id, simple
from . import openai as openai_api
from .auth import KeyChecker
from .config import ServerConfig
from .gevent_host import GeventHost, under_gevent
from .openai.serving import Serving

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent  # the playground's templates/ and static/ live here


@dataclass
class Services:
    """What the views reach through `current_app.extensions["nanogpt"]`."""

    config: ServerConfig
    registry: Registry
    serving: Serving
    keys: KeyChecker


def create_app(config: ServerConfig | Mapping | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `config` (a ServerConfig, or field overrides
    plus Flask settings such as TESTING)."""
    if isinstance(config, ServerConfig):
        cfg, flask_settings = config, {}
    else:
        given = dict(config or {})  # UPPERCASE keys are Flask settings; the rest must be ServerConfig fields
        cfg = ServerConfig.from_env().with_overrides({k: v for k, v in given.items() if not k.isupper()})
        flask_settings = {k: v for k, v in given.items() if k.isupper()}

    app = Flask(__name__, template_folder=str(REPO / "templates"), static_folder=str(REPO / "static"))
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_request_bytes
    app.config.update(flask_settings)
    app.json.sort_keys = False  # keep OpenAI's field order
    app.json.ensure_ascii = False
    app.url_map.merge_slashes = False  # /v1/models//etc/passwd is a 404, not a redirect

    # under gunicorn's gevent worker the engine threads wake request greenlets through the hub
    registry = Registry(cfg, on_load=metrics.export_model, host=GeventHost() if under_gevent() else THREADS)
    metrics.export_model(registry.default_id)
    atexit.register(registry.close)  # let engine threads leave torch before the interpreter goes away
    app.extensions["nanogpt"] = Services(cfg, registry, Serving(registry), KeyChecker(cfg.api_keys))

    errors.init_app(app)
    request_id.init_app(app)
    # Browsers (LobeChat client mode, NextChat with a custom URL) preflight with Authorization and openai-node's
    # x-stainless-* headers: flask-cors reflects whatever headers are requested, and its after_request hook
    # also runs for error responses, so a 401 still reaches the page as a 401.
    origins = [o.strip() for o in cfg.cors_origins.split(",")] if cfg.cors_origins != "*" else "*"
    CORS(app, origins=origins, allow_headers="*", expose_headers=["Retry-After"], max_age=86400,
         allow_private_network=True)
    app.register_blueprint(openai_api.bp)  # /v1
    app.register_blueprint(simple.bp)  # /generate, /chat, /batch, /model/info
    app.register_blueprint(playground.bp)  # the page at /
    ops.init_app(app)  # model management, /health, /metrics, /tokenize, /openapi.json, /docs
    annotate.init_app(app)  # /api (preference annotation, fine-tuning jobs), /ws/train/logs, /annotate
    cfg.warn_if_insecure()
    return app


if __name__ == "__main__":  # before the app exists, so its warnings are logged (gunicorn: gunicorn_config.py)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app()


def main() -> None:
    """The Flask dev server: threaded, so streams run side by side."""
    from werkzeug.serving import WSGIRequestHandler

    class PathOnlyLog(WSGIRequestHandler):
        # the training-log WebSocket takes its key as ?key=: log the path only, as gunicorn_config.py does
        def log_request(self, code="-", size="-"):
            if hasattr(self, "path"):  # the WSGI environ was built from it already
                self.path = self.path.split("?", 1)[0]
            self.requestline = re.sub(r"\?\S*", "", self.requestline)
            rid = getattr(self, "environ", {}).get(request_id.ENVIRON_KEY)
            if rid:
                self.requestline += f" [{rid}]"
            super().log_request(code, size)

    cfg = app.extensions["nanogpt"].config
    log.info("serving %s and %s/ on http://%s:%d/v1", cfg.model.checkpoint, cfg.model_dir, cfg.host, cfg.port)
    app.run(host=cfg.host, port=cfg.port, threaded=True, request_handler=PathOnlyLog)


if __name__ == "__main__":
    main()
