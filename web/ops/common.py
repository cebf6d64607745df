"""The operator surface's blueprint: model management, /health, /metrics, /tokenize and the API document.

/health, /metrics and the document are public (counts and model ids, never request content); the rest needs a
key: unlike vLLM's /tokenize (vllm#18892, reachable without one) they load models.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request

bp = Blueprint("ops", __name__)
PUBLIC = {"ops.health", "ops.metrics_text", "ops.spec"}


def services():
    return current_app.extensions["nanogpt"]


@bp.before_request
def authenticate():
    if request.method != "OPTIONS" and request.endpoint not in PUBLIC:  # CORS preflights carry no credentials
        services().keys.check(request.headers.get("Authorization"))
