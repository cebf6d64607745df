"""Routes outside /v1, where vLLM has them: GET /metrics (Prometheus, public), POST /tokenize, POST /detokenize.

Bodies are read as the OpenAI routes read theirs (request_body.read_json) and validated by the pydantic models
below; `messages` is chat's own model (protocol.ChatMessage), rendered as chat renders it.
"""
from __future__ import annotations

from typing import Annotated

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ConfigDict, Field

from .. import metrics
from ..errors import BadRequest
from ..openai import protocol
from ..openai.protocol import ChatMessage, TokenId
from ..openai.serving import check_token_ids, encode
from ..request_body import read_json
from ..validation import Body, validate
from .common import bp, services


@bp.get("/metrics")
def metrics_text():
    """Prometheus text format, vLLM's metric names; summed over gunicorn workers."""
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


MODEL = Field(None, description="A model id from /v1/models; the default model when omitted.")


class TokenizeBody(Body):
    model: str | None = MODEL
    prompt: str | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1)] | None = Field(
        None, description="Rendered as chat renders them; instead of prompt.")
    add_special_tokens: bool | None = Field(None, description="Accepted; GPT-2 adds none.")
    return_token_strs: bool | None = False
    # one of the two is required: the view checks it, the document says it
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}}]})


class DetokenizeBody(Body):
    model: str | None = MODEL
    tokens: list[TokenId]


@bp.post("/tokenize")
def tokenize():
    """vLLM's /tokenize: {"prompt": str} or {"messages": [...]} (rendered as chat renders them) -> token ids."""
    b = validate(TokenizeBody, read_json())
    if b.messages is None and b.prompt is None:
        raise BadRequest("'prompt' must be a string (or send 'messages').", "prompt", "missing")
    served = services().registry.get(b.model or None)
    tok = served.tokenizer
    if b.messages is not None:
        text, param = served.chat.render(protocol.chat_messages(b.messages)), "messages"
    else:
        text, param = b.prompt, "prompt"
    ids = encode(tok, text, param)
    out = {"count": len(ids), "max_model_len": served.engine.lm.config.block_size, "tokens": ids}
    if b.return_token_strs:
        out["token_strs"] = [tok.token_bytes(t).decode("utf-8", errors="replace") for t in ids]
    return out


@bp.post("/detokenize")
def detokenize():
    """vLLM's /detokenize: {"tokens": [ids]} -> {"prompt": text}."""
    b = validate(DetokenizeBody, read_json())
    served = services().registry.get(b.model or None)
    ids = check_token_ids(served.tokenizer, b.tokens, "tokens")
    return {"prompt": served.tokenizer.decode(ids)}
