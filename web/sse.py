"""Server-sent events as the OpenAI SDKs read them: `data: <one-line JSON>` frames and a final `data: [DONE]`.

No `event:` lines: openai-node v4 turns a named event into an {event, data} object instead of a chunk.
"""
from __future__ import annotations

import json

DONE = "data: [DONE]\n\n"
KEEPALIVE = ": keep-alive\n\n"  # a comment line: the SDKs skip it, proxies see traffic
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no buffering in nginx
MIMETYPE = "text/event-stream"


def frame(payload: dict) -> str:
    # compact separators keep every frame on one line (json.dumps never emits a raw newline)
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"
