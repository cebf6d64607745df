"""The simple API of LLaMA-Factory-style services, for their users' scripts (seeds/001): GET /model/info,
POST /generate, POST /chat, POST /batch, and the JSON that GET / answers a client asking for JSON.

One code path with the OpenAI routes: a body here is an OpenAI body (its pydantic models below extend
protocol.py's) with one prompt, or `prompts`, and n = 1, so it becomes the same CompletionRequest / ChatRequest
and goes through Serving unchanged: the same key check, validation and OpenAI-shaped errors. Only the response
is reshaped. `stream: true` answers the
OpenAI stream of the matching /v1 route (the simple services never documented a stream format of their own).
"""
from __future__ import annotations

from importlib import metadata
from typing import Annotated

from flask import Blueprint, current_app, request
from pydantic import Field

from engine.model_info import details

from ..openai import protocol
from ..openai.protocol import ChatBody, CompletionOptions, TokenIds
from ..openai.routes import disconnected, stream_response
from ..request_body import read_json
from ..validation import exactly, refuse, validate

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


OneCandidate = Annotated[exactly(1) | None, refuse(
    "must be 1 here: the simple API returns one text per prompt; ask /v1/completions or /v1/chat/completions for "
    "several candidates.", "unsupported_parameter")]


class GenerateBody(CompletionOptions):
    prompt: Annotated[str | TokenIds, refuse("must be one prompt here (a string or a list of token ids); send "
                                             "several as 'prompts' to /batch.")]
    n: OneCandidate = 1


class SimpleChatBody(ChatBody):
    n: OneCandidate = 1


class BatchBody(CompletionOptions):
    prompts: Annotated[list[str | TokenIds], Field(min_length=1), refuse(
        "must be a non-empty list of prompts (strings, or lists of token ids).")]
    n: OneCandidate = 1


def _body(model):
    return validate(model, read_json(), max_tokens_limit=_services().config.max_tokens_limit)


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
    b = _body(GenerateBody)
    req = protocol.completion_request(b, [b.prompt])
    result = svc.serving.completions(req, disconnected)
    if req.stream:
        return stream_response(result)
    choice = result["choices"][0]
    return {"generated_text": choice["text"], "usage": result["usage"], "model": result["model"],
            "finish_reason": choice["finish_reason"]}


@bp.post("/chat")
def chat():
    """{messages, ...sampling} -> {response, usage, model}: /v1/chat/completions."""
    svc = _services()
    req = protocol.chat_request(_body(SimpleChatBody))
    result = svc.serving.chat(req, disconnected)
    if req.stream:
        return stream_response(result)
    choice = result["choices"][0]
    return {"response": choice["message"]["content"], "usage": result["usage"], "model": result["model"],
            "finish_reason": choice["finish_reason"]}


@bp.post("/batch")
def batch():
    """{prompts: [...], ...sampling} -> {results: [text per prompt], usage, model}: one batched completion."""
    svc = _services()
    b = _body(BatchBody)
    req = protocol.completion_request(b, list(b.prompts), param="prompts")
    result = svc.serving.completions(req, disconnected)
    if req.stream:
        return stream_response(result)
    choices = sorted(result["choices"], key=lambda c: c["index"])
    return {"results": [c["text"] for c in choices], "usage": result["usage"], "model": result["model"],
            "finish_reasons": [c["finish_reason"] for c in choices]}
