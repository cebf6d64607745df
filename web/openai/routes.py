"""The OpenAI surface under /v1: parse and validate -> engine -> JSON or an SSE stream (views stay thin)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from engine.model_info import details

from .. import connection, sse
from ..errors import NotFound
from ..request_body import read_json
from . import protocol
from . import responses as r
from .serving import EventStream

bp = Blueprint("openai", __name__, url_prefix="/v1")


def _services():
    return current_app.extensions["nanogpt"]


@bp.before_request
def authenticate():
    """Every /v1 route needs a key, except CORS preflights (browsers send no credentials) and GET /v1."""
    if request.method == "OPTIONS" or request.endpoint == "openai.index":
        return
    _services().keys.check(request.headers.get("Authorization"))


def _card(model_id: str, path) -> dict:
    try:
        created = int(path.stat().st_mtime)
    except OSError:  # removed since it was listed
        created = 0
    return r.model_card(model_id, created)


def disconnected() -> bool:
    """Whether the client of the current request hung up (serving stops its sequences)."""
    return connection.hung_up(request.environ)


def stream_response(stream: EventStream) -> Response:
    """An SSE response whose writes may block STREAM_WRITE_TIMEOUT s at most: a client that stops reading
    ends its stream instead of holding its tokens in the worker."""
    stream.on_close = connection.limit_writes(request.environ, _services().config.stream_write_timeout)
    return Response(stream, mimetype=sse.MIMETYPE, headers=sse.HEADERS)


def _respond(result) -> Response | dict:
    return result if isinstance(result, dict) else stream_response(result)


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
    # the card plus what operators ask about (format, size, training step, device): engine.model_info.details
    return {**_card(model_id, listing[model_id]), **details(registry, model_id, listing[model_id])}


@bp.post("/completions")
def completions():
    """Text completion of a prompt or a batch of prompts."""
    svc = _services()
    req = protocol.parse_completion(read_json(), svc.config.max_tokens_limit)
    return _respond(svc.serving.completions(req, disconnected))


@bp.post("/chat/completions")
def chat_completions():
    """Chat: messages rendered into the model's transcript format, then completed."""
    svc = _services()
    req = protocol.parse_chat(read_json(), svc.config.max_tokens_limit)
    return _respond(svc.serving.chat(req, disconnected))
