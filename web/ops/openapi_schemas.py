"""The OpenAPI 3.1 components (JSON Schema 2020-12): request bodies generated from the pydantic models that
validate them, so /docs promises exactly what the API accepts; response schemas written here. The operations
that use them are in openapi.py.
"""
from __future__ import annotations

import copy
from functools import lru_cache

REF = "#/components/schemas/{model}"
TOKEN_LIMITED = ("max_tokens", "max_completion_tokens", "max_new_tokens")  # bounded by MAX_TOKENS_LIMIT


def ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _bodies() -> list:
    # imported here: these modules import Flask views, and this module is imported by openapi.py's
    from ..annotate.schemas import CandidatesBody, DatasetAddBody, GenerationSettings, TrainStartBody
    from ..openai.protocol import ChatBody, CompletionBody
    from ..simple.routes import BatchBody, GenerateBody, SimpleChatBody
    from .tokens import DetokenizeBody, TokenizeBody
    return [CompletionBody, ChatBody, GenerateBody, SimpleChatBody, BatchBody, TokenizeBody, DetokenizeBody,
            GenerationSettings, CandidatesBody, DatasetAddBody, TrainStartBody]


def _untitled(schema):
    """pydantic titles every property after its name: noise in Swagger UI ("Max Tokens" above max_tokens)."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def _request_schemas() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for model in _bodies():
        schema = model.model_json_schema(ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():  # nested models become components too
            assert out.get(name, definition) == definition, f"two different schemas named {name}"
            out[name] = definition
        out[model.__name__] = schema
    return {name: _untitled(schema) for name, schema in out.items()}


def _cap_tokens(schemas: dict, limit: int) -> None:
    for schema in schemas.values():
        for name in TOKEN_LIMITED:
            prop = schema.get("properties", {}).get(name)
            for branch in (prop or {}).get("anyOf", [prop] if prop else []):
                if branch.get("type") == "integer":
                    branch["maximum"] = limit


@lru_cache(maxsize=4)
def components(max_tokens_limit: int) -> dict[str, dict]:
    """Every schema of the document; the request bodies' token counts bounded by the server's limit."""
    requests = _request_schemas()
    _cap_tokens(requests, max_tokens_limit)
    return {**copy.deepcopy(RESPONSES), **requests}


NULLABLE_STR = {"type": ["string", "null"]}
USAGE = {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
         "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")}}
FINISH = {"enum": ["stop", "length", None]}

MODEL_DETAILS = {
    "format": {"enum": ["nanogpt", "build-nanogpt", "huggingface"]},
    "parameters": {"type": "integer"}, "n_layer": {"type": "integer"}, "n_head": {"type": "integer"},
    "n_embd": {"type": "integer"}, "block_size": {"type": "integer"}, "max_model_len": {"type": "integer"},
    "vocab_size": {"type": "integer"}, "tokenizer": {"type": "string"}, "n_vocab": {"type": "integer"},
    "step": {"type": ["integer", "null"], "description": "Training step, when the checkpoint records it."},
    "val_loss": {"type": ["number", "null"], "description": "Validation loss, when the checkpoint records it."},
    "loaded": {"type": "boolean", "description": "Loaded in the worker that answered."},
    "device": {"type": "string"}, "dtype": {"type": "string"},
    "running": {"type": "integer"}, "waiting": {"type": "integer"},
    "error": {"type": "string", "description": "Why the checkpoint cannot be read."},
}
CARD = {"id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}, "root": {"type": "string"}}

RESPONSES = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": NULLABLE_STR,
                       "code": NULLABLE_STR}}}},
    "Usage": USAGE,
    "Completion": {"type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
                   "properties": {
                       "id": {"type": "string"}, "object": {"const": "text_completion"},
                       "created": {"type": "integer"}, "model": {"type": "string"}, "usage": ref("Usage"),
                       "choices": {"type": "array", "items": {"type": "object", "properties": {
                           "index": {"type": "integer"}, "text": {"type": "string"},
                           "logprobs": {"type": ["object", "null"]}, "finish_reason": FINISH}}}}},
    "ChatCompletion": {"type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
                       "properties": {
                           "id": {"type": "string"}, "object": {"const": "chat.completion"},
                           "created": {"type": "integer"}, "model": {"type": "string"}, "usage": ref("Usage"),
                           "choices": {"type": "array", "items": {"type": "object", "properties": {
                               "index": {"type": "integer"},
                               "message": {"type": "object", "properties": {
                                   "role": {"const": "assistant"}, "content": {"type": "string"}}},
                               "logprobs": {"type": ["object", "null"]}, "finish_reason": FINISH}}}}},
    "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": CARD},
    "ModelDetails": {"type": "object", "required": ["id", "object", "loaded"],
                     "properties": {**CARD, **MODEL_DETAILS, "unloaded": {"type": "boolean"}}},
    "ModelList": {"type": "object", "properties": {"object": {"const": "list"},
                                                   "data": {"type": "array", "items": ref("Model")}}},
    "Health": {"type": "object", "required": ["status"], "properties": {
        "status": {"const": "ok"}, "default_model": {"type": "string"},
        "models_loaded": {"type": "array", "items": {"type": "string"}},
        "engines": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "running": {"type": "integer"}, "waiting": {"type": "integer"}, "max_batch": {"type": "integer"}}}},
        "queue_depth": {"type": "integer", "description": "Sequences waiting for a decoder slot."},
        "gpus": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "name": {"type": "string"}, "memory_allocated": {"type": "integer"},
            "memory_reserved": {"type": "integer"}, "memory_total": {"type": "integer"}}}}}},
    "TokenizeResponse": {"type": "object", "required": ["count", "max_model_len", "tokens"], "properties": {
        "count": {"type": "integer"}, "max_model_len": {"type": "integer"},
        "tokens": {"type": "array", "items": {"type": "integer"}},
        "token_strs": {"type": "array", "items": {"type": "string"}}}},
    "DetokenizeResponse": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
    "GenerateResponse": {"type": "object", "required": ["generated_text", "usage", "model"], "properties": {
        "generated_text": {"type": "string"}, "usage": ref("Usage"), "model": {"type": "string"},
        "finish_reason": FINISH}},
    "SimpleChatResponse": {"type": "object", "required": ["response", "usage", "model"], "properties": {
        "response": {"type": "string"}, "usage": ref("Usage"), "model": {"type": "string"},
        "finish_reason": FINISH}},
    "BatchResponse": {"type": "object", "required": ["results", "usage", "model"], "properties": {
        "results": {"type": "array", "items": {"type": "string"}}, "usage": ref("Usage"),
        "model": {"type": "string"}, "finish_reasons": {"type": "array", "items": FINISH}}},
    "ModelInfo": {"type": "object", "required": ["model_name", "status"], "properties": {
        "model_name": {"type": "string"}, "status": {"enum": ["loaded", "not loaded"]}, **MODEL_DETAILS}},
    "ServiceInfo": {"type": "object", "properties": {
        k: {"type": ["string", "null"]} for k in ("message", "version", "default_model", "docs", "openapi",
                                                 "health", "metrics", "api", "models", "model_info")}},
    # the annotation API (/api): the service's envelope
    "Envelope": {"type": "object", "required": ["status", "message", "data"], "properties": {
        "status": {"const": "success"}, "message": {"type": "string"},
        "data": {"description": "The route's result (an object), or null."}}},
    "AnnotateError": {"type": "object", "required": ["status", "message", "data", "detail"], "properties": {
        "status": {"const": "error"}, "message": {"type": "string"}, "data": {"type": "null"},
        "detail": {"type": "string", "description": "The message again (the service's own field)."}}},
}
