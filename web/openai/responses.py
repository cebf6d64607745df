"""OpenAI response and stream-chunk bodies, built from plain values (the other half of the protocol).

Shapes follow openai-python's types (research §1.1/§1.2): every chunk of a stream repeats the same id and
created; a usage chunk has `choices: []`.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class TokenInfo:
    """One generated token for logprobs: its text, bytes and logprob, and the most likely alternatives."""

    text: str
    bytes: list[int]
    logprob: float
    top: list[tuple[str, list[int], float]] = field(default_factory=list)


@dataclass
class Choice:
    index: int
    text: str
    finish_reason: str | None
    tokens: list[TokenInfo] | None  # None when logprobs were not asked for


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}}


def chat_logprobs(tokens: list[TokenInfo] | None) -> dict | None:
    if tokens is None:
        return None
    return {"content": [{"token": t.text, "logprob": t.logprob, "bytes": t.bytes,
                         "top_logprobs": [{"token": s, "logprob": lp, "bytes": b} for s, b, lp in t.top]}
                        for t in tokens]}


def completion_logprobs(tokens: list[TokenInfo] | None, offsets: list[int] | None = None) -> dict | None:
    """The legacy format. text_offset counts characters from the start of the completion (no echo): `offsets`
    when given (a stream's, one per token), else by the tokens' texts."""
    if tokens is None:
        return None
    if offsets is None:
        offsets, offset = [], 0
        for t in tokens:
            offsets.append(offset)
            offset += len(t.text)
    return {"tokens": [t.text for t in tokens], "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [{s: lp for s, _, lp in t.top} for t in tokens], "text_offset": offsets}


def completion(rid: str, created: int, model: str, choices: list[Choice], use: dict) -> dict:
    return {"id": rid, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": c.index, "text": c.text, "logprobs": completion_logprobs(c.tokens),
                         "finish_reason": c.finish_reason} for c in choices],
            "usage": use}


def chat_completion(rid: str, created: int, model: str, choices: list[Choice], use: dict) -> dict:
    return {"id": rid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": c.index, "message": {"role": "assistant", "content": c.text},
                         "logprobs": chat_logprobs(c.tokens), "finish_reason": c.finish_reason}
                        for c in choices],
            "usage": use}


def chunk_head(rid: str, created: int, model: str, obj: str) -> dict:
    """What every chunk of one stream repeats (sse.ChunkFrames encodes it once per stream)."""
    return {"id": rid, "object": obj, "created": created, "model": model}


def completion_chunk_choice(index: int, text: str, tokens: list[TokenInfo] | None = None,
                            finish_reason: str | None = None, offsets: list[int] | None = None) -> dict:
    """One entry of a completion chunk's `choices`; `tokens` may hold several tokens (a coalesced chunk)."""
    return {"index": index, "text": text, "logprobs": completion_logprobs(tokens, offsets=offsets),
            "finish_reason": finish_reason}


def chat_chunk_choice(index: int, delta: dict, tokens: list[TokenInfo] | None = None,
                      finish_reason: str | None = None) -> dict:
    """One entry of a chat chunk's `choices`; `tokens` may hold several tokens (a coalesced chunk)."""
    return {"index": index, "delta": delta, "logprobs": chat_logprobs(tokens), "finish_reason": finish_reason}


def chat_chunk(rid: str, created: int, model: str, index: int, delta: dict,
               tokens: list[TokenInfo] | None = None, finish_reason: str | None = None) -> dict:
    return {**chunk_head(rid, created, model, "chat.completion.chunk"),
            "choices": [chat_chunk_choice(index, delta, tokens, finish_reason)]}


def usage_chunk(rid: str, created: int, model: str, obj: str, use: dict) -> dict:
    return {**chunk_head(rid, created, model, obj), "choices": [], "usage": use}


def model_card(model_id: str, created: int, owned_by: str = "nanogpt-serve") -> dict:
    # root: vLLM's field, which `vllm bench serve` reads when --model is omitted
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by, "root": model_id}


def model_list(cards: list[dict]) -> dict:
    return {"object": "list", "data": cards}
