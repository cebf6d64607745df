"""The OpenAPI 3.1 components: request and response schemas of every route (JSON Schema 2020-12).

Numeric bounds come from protocol.py (RANGES, MAX_*), so the document cannot drift from what the API
validates. The operations that use these are in openapi.py.
"""
from __future__ import annotations

from .protocol import DEFAULTS, MAX_LOGPROBS, MAX_STOP, RANGES


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _num(name: str, default, description: str, integer: bool = False) -> dict:
    lo, hi = RANGES[name]
    return {"type": "integer" if integer else "number", "minimum": lo, "maximum": hi, "default": default,
            "description": description}


NULLABLE_STR = {"type": ["string", "null"]}
TOKEN_IDS = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}

SAMPLING = {
    "model": {"type": "string", "description": "A model id from /v1/models; the default model when omitted."},
    "max_tokens": {"type": "integer", "minimum": 1, "default": DEFAULTS["max_tokens"],
                   "description": "The most tokens to generate (up to MAX_TOKENS_LIMIT)."},
    "max_completion_tokens": {"type": "integer", "minimum": 1, "description": "OpenAI's newer name; wins."},
    "temperature": _num("temperature", DEFAULTS["temperature"], "0 is greedy."),
    "top_p": _num("top_p", DEFAULTS["top_p"], "Nucleus sampling."),
    "top_k": _num("top_k", DEFAULTS["top_k"], "0 or -1 is off.", integer=True),
    "min_p": _num("min_p", 0.0, "Drop tokens less likely than min_p times the best one."),
    "presence_penalty": _num("presence_penalty", 0.0, "OpenAI's definition, on generated tokens."),
    "frequency_penalty": _num("frequency_penalty", 0.0, "OpenAI's definition, on generated tokens."),
    "repetition_penalty": _num("repetition_penalty", 1.0, "On prompt and generated tokens; 1 is off."),
    "logit_bias": {"type": "object", "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
                   "description": "Token id (as a string) -> bias added to its logit."},
    "seed": {"type": "integer", "description": "Choice i of n uses seed + i."},
    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOP}]},
    "n": _num("n", 1, "Candidates per prompt.", integer=True),
    "ignore_eos": {"type": "boolean", "default": False},
    "stream": {"type": "boolean", "default": False, "description": "Server-sent events, ending in [DONE]."},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "user": {"type": "string"},
}

MESSAGE = {
    "type": "object", "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "null"}, {"type": "array", "items": {
            "type": "object", "required": ["type", "text"],
            "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]},
    },
}

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

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": NULLABLE_STR,
                       "code": NULLABLE_STR}}}},
    "Usage": USAGE,
    "Message": MESSAGE,
    "CompletionRequest": {"type": "object", "required": ["prompt"], "properties": {
        **SAMPLING,
        "prompt": {"oneOf": [{"type": "string"}, TOKEN_IDS, {"type": "array", "minItems": 1, "items": {
            "oneOf": [{"type": "string"}, TOKEN_IDS]}}]},
        "logprobs": {"type": "integer", "minimum": 0, "maximum": MAX_LOGPROBS}}},
    "ChatRequest": {"type": "object", "required": ["messages"], "properties": {
        **SAMPLING, "messages": {"type": "array", "minItems": 1, "items": ref("Message")},
        "logprobs": {"type": "boolean"},
        "top_logprobs": {"type": "integer", "minimum": 0, "maximum": MAX_LOGPROBS}}},
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
    "TokenizeRequest": {"type": "object", "properties": {
        "model": SAMPLING["model"], "prompt": {"type": "string"},
        "messages": {"type": "array", "items": ref("Message"), "description": "Rendered as chat renders them."},
        "add_special_tokens": {"type": "boolean", "description": "Accepted; GPT-2 adds none."},
        "return_token_strs": {"type": "boolean"}}},
    "TokenizeResponse": {"type": "object", "required": ["count", "max_model_len", "tokens"], "properties": {
        "count": {"type": "integer"}, "max_model_len": {"type": "integer"},
        "tokens": {"type": "array", "items": {"type": "integer"}},
        "token_strs": {"type": "array", "items": {"type": "string"}}}},
    "DetokenizeRequest": {"type": "object", "required": ["tokens"], "properties": {
        "model": SAMPLING["model"], "tokens": {"type": "array", "items": {"type": "integer", "minimum": 0}}}},
    "DetokenizeResponse": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
    "GenerateRequest": {"type": "object", "required": ["prompt"], "properties": {
        **SAMPLING, "prompt": {"oneOf": [{"type": "string"}, TOKEN_IDS]}}},
    "GenerateResponse": {"type": "object", "required": ["generated_text", "usage", "model"], "properties": {
        "generated_text": {"type": "string"}, "usage": ref("Usage"), "model": {"type": "string"},
        "finish_reason": FINISH}},
    "SimpleChatRequest": {"type": "object", "required": ["messages"], "properties": {
        **SAMPLING, "messages": {"type": "array", "minItems": 1, "items": ref("Message")}}},
    "SimpleChatResponse": {"type": "object", "required": ["response", "usage", "model"], "properties": {
        "response": {"type": "string"}, "usage": ref("Usage"), "model": {"type": "string"},
        "finish_reason": FINISH}},
    "BatchRequest": {"type": "object", "required": ["prompts"], "properties": {
        **SAMPLING, "prompts": {"type": "array", "minItems": 1, "items": {"type": "string"}}}},
    "BatchResponse": {"type": "object", "required": ["results", "usage", "model"], "properties": {
        "results": {"type": "array", "items": {"type": "string"}}, "usage": ref("Usage"),
        "model": {"type": "string"}, "finish_reasons": {"type": "array", "items": FINISH}}},
    "ModelInfo": {"type": "object", "required": ["model_name", "status"], "properties": {
        "model_name": {"type": "string"}, "status": {"enum": ["loaded", "not loaded"]}, **MODEL_DETAILS}},
    "ServiceInfo": {"type": "object", "properties": {
        k: {"type": ["string", "null"]} for k in ("message", "version", "default_model", "docs", "openapi",
                                                 "health", "metrics", "api", "models", "model_info")}},
}
