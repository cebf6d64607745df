"""X-Request-Id on every response, as vLLM and OpenAI answer it (openai-python's `_request_id`, openai-node's
`withResponse` read it): the client's own id when it sent a sane one, else a new one. The access logs print it
(gunicorn_config.py's access_log_format, the dev server's handler in app.py)."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

HEADER = "X-Request-Id"
ENVIRON_KEY = "nanogpt.request_id"  # where the dev server's access log finds it
_SANE = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII: it is echoed into a header and a log line


def init_app(app: Flask) -> None:
    @app.before_request
    def assign() -> None:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        request.environ[ENVIRON_KEY] = g.request_id

    @app.after_request
    def answer(response):
        # a response made before `assign` ran (an error in an earlier before_request hook) still gets one
        response.headers[HEADER] = g.get("request_id") or uuid.uuid4().hex
        return response
