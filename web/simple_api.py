"""The simple API of LLaMA-Factory-style services, for their users' scripts (seeds/001): GET /model/info,
POST /generate, POST /chat, POST /batch, and the JSON that GET / answers a client asking for JSON.

One code path with the OpenAI routes: a body here is an OpenAI body with another name for one field, so it
goes through protocol.parse_completion / parse_chat and Serving unchanged: the same key check, the same
validation and the same OpenAI-shaped errors. Only the response is reshaped. `stream: true` answers the
OpenAI stream of the matching /v1 route (the simple services never documented a stream format of their own).
"""
from __future__ import annotations

from importlib import metadata

from flask import Blueprint, Response, current_app, request

from . import protocol, sse
from .api_openai import _body
from .errors import BadRequest
from .models_admin import details

bp = Blueprint("simple", __name__)


def _services():
    return current_app.extensions["nanogpt"]


@bp.before_request
def authenticate():
    if request.method != "OPTIONS":
        _services().keys.check(request.headers.get("Authorization"))


def _version() -> str | None:
    try:
        return metadata.version("nanogpt-serve")
    except metadata.PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return None


def service_info() -> dict:
    """What GET / answers a client that asks for JSON: where everything is (LLaMA-Factory's root shape)."""
    return {"message": "nanogpt-serve: an OpenAI-compatible server for nanoGPT-style GPT checkpoints",
            "version": _version(), "default_model": _services().registry.default_id,
            "docs": "/docs", "openapi": "/openapi.json", "health": "/health", "metrics": "/metrics",
            "api": "/v1", "models": "/v1/models", "model_info": "/model/info"}


def _object() -> dict:
    body = _body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def _one_candidate(req: protocol.GenerationRequest) -> None:
    if req.n != 1:
        raise BadRequest("'n' must be 1 here: the simple API returns one text per prompt; ask /v1/completions or "
                         "/v1/chat/completions for several candidates.", "n", "unsupported_parameter")


def _stream(result) -> Response:
    return Response(result, mimetype=sse.MIMETYPE, headers=sse.HEADERS)


@bp.get("/model/info")
def model_info():
    """The default model (or ?model=ID): its name, status and details."""
    registry = _services().registry
    model_id, path = registry.resolve(request.args.get("model"))
    info = details(registry, model_id, path)
    return {"model_name": model_id, "status": "loaded" if info["loaded"] else "not loaded", **info}


@bp.post("/generate")
def generate():
    """{prompt, ...sampling} -> {generated_text, usage, model}: /v1/completions for one prompt."""
    svc = _services()
    body = _object()
    if isinstance(body.get("prompt"), list) and body["prompt"] and not isinstance(body["prompt"][0], int):
        raise BadRequest("'prompt' must be one prompt here; send several as 'prompts' to /batch.", "prompt",
                         "invalid_type")
    req = protocol.parse_completion(body, svc.config.max_tokens_limit)
    _one_candidate(req)
    result = svc.serving.completions(req)
    if req.stream:
        return _stream(result)
    choice = result["choices"][0]
    return {"generated_text": choice["text"], "usage": result["usage"], "model": result["model"],
            "finish_reason": choice["finish_reason"]}


@bp.post("/chat")
def chat():
    """{messages, ...sampling} -> {response, usage, model}: /v1/chat/completions."""
    svc = _services()
    req = protocol.parse_chat(_object(), svc.config.max_tokens_limit)
    _one_candidate(req)
    result = svc.serving.chat(req)
    if req.stream:
        return _stream(result)
    choice = result["choices"][0]
    return {"response": choice["message"]["content"], "usage": result["usage"], "model": result["model"],
            "finish_reason": choice["finish_reason"]}


@bp.post("/batch")
def batch():
    """{prompts: [...], ...sampling} -> {results: [text per prompt], usage, model}: one batched completion."""
    svc = _services()
    body = _object()
    prompts = body.get("prompts")
    if not isinstance(prompts, list):
        raise BadRequest("'prompts' must be a list of prompts.", "prompts", "missing" if prompts is None
                         else "invalid_type")
    try:
        req = protocol.parse_completion({**body, "prompt": prompts}, svc.config.max_tokens_limit)
    except BadRequest as e:  # the OpenAI field is 'prompt'; name the one this client sent
        if e.param == "prompt":
            e.param, e.message = "prompts", e.message.replace("'prompt'", "'prompts'")
        raise
    _one_candidate(req)
    result = svc.serving.completions(req)
    if req.stream:
        return _stream(result)
    choices = sorted(result["choices"], key=lambda c: c["index"])
    return {"results": [c["text"] for c in choices], "usage": result["usage"], "model": result["model"],
            "finish_reasons": [c["finish_reason"] for c in choices]}
