"""Server-sent events as the OpenAI SDKs read them: `data: <one-line JSON>` frames and a final `data: [DONE]`.

No `event:` lines: openai-node v4 turns a named event into an {event, data} object instead of a chunk. Frames are
encoded by orjson: UTF-8 as is (json's ensure_ascii=False), compact, and never a raw newline, so one frame is one
line; it is several times faster than the json module, which matters at one frame per token per stream.
"""
from __future__ import annotations

import json

try:
    import orjson
except ImportError:  # an install without it (it is in install_requires): slower, same bytes
    orjson = None

DONE = "data: [DONE]\n\n"
KEEPALIVE = ": keep-alive\n\n"  # a comment line: the SDKs skip it, proxies see traffic
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no buffering in nginx
MIMETYPE = "text/event-stream"


def dumps(payload) -> bytes:
    """Compact one-line JSON in UTF-8."""
    if orjson is not None:
        try:
            return orjson.dumps(payload)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate in a message, which UTF-8 cannot carry
            return json.dumps(payload, separators=(",", ":")).encode()  # escaped as \\udxxx
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def frame(payload: dict) -> str:
    return f"data: {dumps(payload).decode()}\n\n"


def frame_bytes(payload: dict) -> bytes:
    """frame() as the bytes a WSGI server writes as they are (a str is encoded once more on the way out)."""
    return b"data: " + dumps(payload) + b"\n\n"


class ChunkFrames:
    """The frames of one stream's chunks, which all repeat the same head (id, object, created, model): the head
    is encoded once, and each chunk encodes only its `choices`."""

    def __init__(self, head: dict) -> None:
        self._open = b"data: " + dumps(head)[:-1] + b',"choices":['  # the head without its closing brace

    def frame(self, choice: dict) -> bytes:
        """The frame of the chunk {**head, "choices": [choice]}."""
        return self._open + dumps(choice) + b"]}\n\n"
