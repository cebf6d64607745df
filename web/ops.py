"""Operator routes outside /v1, where vLLM has them: GET /metrics (Prometheus), POST /tokenize, POST /detokenize.

/metrics is public like /health (counts and model ids, never request content), so a scraper needs no key.
/tokenize and /detokenize need the key: unlike vLLM (vllm#18892, reachable without one) they load models.
Bodies go through the same parsing as the OpenAI routes (api_openai._body, protocol.parse_chat).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from model.tokenizer import TokenizerError

from . import metrics, protocol
from .api_openai import _body
from .errors import BadRequest

bp = Blueprint("ops", __name__)


def _services():
    return current_app.extensions["nanogpt"]


@bp.before_request
def authenticate():
    if request.method != "OPTIONS" and request.endpoint != "ops.metrics_text":
        _services().keys.check(request.headers.get("Authorization"))


@bp.get("/metrics")
def metrics_text():
    """Prometheus text format, vLLM's metric names; summed over gunicorn workers."""
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def _model_field(body: dict) -> str | None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string.", "model", "invalid_type")
    return model or None


@bp.post("/tokenize")
def tokenize():
    """vLLM's /tokenize: {"prompt": str} or {"messages": [...]} (rendered as chat renders them) -> token ids."""
    body = _body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    svc = _services()
    served = svc.registry.get(_model_field(body))
    tok = served.tokenizer
    if "messages" in body:
        messages = protocol.parse_chat({"messages": body["messages"]}).messages  # chat's own validation
        text, param = served.chat.render(messages), "messages"
    else:
        text, param = body.get("prompt"), "prompt"
        if not isinstance(text, str):
            raise BadRequest("'prompt' must be a string (or send 'messages').", "prompt",
                             "missing" if text is None else "invalid_type")
    try:
        ids = tok.encode(text)
    except TokenizerError as e:
        raise BadRequest(f"The model's tokenizer cannot encode the {param}: {e}", param, "invalid_value") from None
    out = {"count": len(ids), "max_model_len": served.engine.lm.config.block_size, "tokens": ids}
    if body.get("return_token_strs"):
        out["token_strs"] = [tok.token_bytes(t).decode("utf-8", errors="replace") for t in ids]
    return out


@bp.post("/detokenize")
def detokenize():
    """vLLM's /detokenize: {"tokens": [ids]} -> {"prompt": text}."""
    body = _body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    served = _services().registry.get(_model_field(body))
    ids = body.get("tokens")
    n_vocab = served.tokenizer.n_vocab
    if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
        raise BadRequest("'tokens' must be a list of token ids.", "tokens",
                         "missing" if ids is None else "invalid_type")
    bad = [t for t in ids if not 0 <= t < n_vocab]
    if bad:
        raise BadRequest(f"Token ids must be in [0, {n_vocab}); got {bad[:5]}.", "tokens", "invalid_value")
    return {"prompt": served.tokenizer.decode(ids)}


def init_app(app) -> None:
    """Register the operator features of issue 7: model management, the simple API, these routes, the docs."""
    from . import models_admin, openapi, simple_api

    app.register_blueprint(models_admin.bp)
    app.register_blueprint(simple_api.bp)
    app.register_blueprint(bp)
    openapi.init_app(app)
