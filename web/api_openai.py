"""The OpenAI surface under /v1: parse and validate -> engine -> JSON or an SSE stream (views stay thin)."""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from . import models_admin, protocol
from . import responses as r
from . import sse
from .errors import BadRequest, NotFound

bp = Blueprint("openai", __name__, url_prefix="/v1")


def _services():
    return current_app.extensions["nanogpt"]


@bp.before_request
def authenticate():
    """Every /v1 route needs a key, except CORS preflights (browsers send no credentials) and GET /v1."""
    if request.method == "OPTIONS" or request.endpoint == "openai.index":
        return
    _services().keys.check(request.headers.get("Authorization"))


def _body() -> object:
    # read the body ourselves: werkzeug's JSON errors are HTML-ish 400s, and the SDKs need OpenAI's shape
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"The request body is not valid JSON: {e}", code="invalid_json") from None


def _card(model_id: str, path) -> dict:
    try:
        created = int(path.stat().st_mtime)
    except OSError:  # removed since it was listed
        created = 0
    return r.model_card(model_id, created)


def _respond(result) -> Response | dict:
    if isinstance(result, dict):
        return result
    return Response(result, mimetype=sse.MIMETYPE, headers=sse.HEADERS)


@bp.get("")
@bp.get("/")
def index():
    """Connectivity check; no key needed."""
    return {"object": "api", "status": "ok", "models": "/v1/models"}


@bp.get("/models")
def list_models():
    """The default model first, then every checkpoint in MODEL_DIR."""
    registry = _services().registry
    return r.model_list([_card(mid, path) for mid, path in registry.listing().items()])


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str):
    """A model card with details; 404 for anything not in the listing (a path never reaches the filesystem)."""
    registry = _services().registry
    listing = registry.listing()
    if model_id not in listing:
        raise NotFound(f"The model `{model_id}` does not exist.", "model", "model_not_found")
    # the card plus what operators ask about (format, size, training step, device): models_admin.details
    return {**_card(model_id, listing[model_id]), **models_admin.details(registry, model_id, listing[model_id])}


@bp.post("/completions")
def completions():
    """Text completion of a prompt or a batch of prompts."""
    svc = _services()
    req = protocol.parse_completion(_body(), svc.config.max_tokens_limit)
    return _respond(svc.serving.completions(req))


@bp.post("/chat/completions")
def chat_completions():
    """Chat: messages rendered into the model's transcript format, then completed."""
    svc = _services()
    req = protocol.parse_chat(_body(), svc.config.max_tokens_limit)
    return _respond(svc.serving.chat(req))
