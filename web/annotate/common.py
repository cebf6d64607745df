"""What the annotation service's modules share: its blueprint, its state in the app, the success envelope
and the error envelope every path under /api/ and /ws/ answers in."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, request

from ..errors import APIError
from ..request_body import read_json
from ..validation import validate
from .jobs import Trainer
from .schemas import GenerationSettings
from .store import Store

bp = Blueprint("annotate", __name__)


@dataclass
class Annotate:
    store: Store
    trainer: Trainer
    settings: GenerationSettings | None = None  # what POST /api/model/load set; None: no model loaded
    loading: str | None = None  # the model being loaded


def services():
    return current_app.extensions["nanogpt"]


def annotation() -> Annotate:
    return current_app.extensions["annotate"]


def ok(message: str, data=None, **top) -> dict:
    return {"status": "success", "message": message, "data": data, **top}


def envelope(e: APIError):
    """Every error under /api/ and /ws/ (errors.add_error_shape), werkzeug's 404/405/413 and 500s included."""
    return {"status": "error", "message": e.message, "data": None, "detail": e.message}, e.status, e.headers


@bp.before_request
def authenticate():
    if request.method == "OPTIONS" or request.endpoint == "annotate.page":
        return
    auth = request.headers.get("Authorization")
    if auth is None and request.endpoint == "annotate.train_logs" and request.args.get("key"):
        auth = "Bearer " + request.args["key"]  # a browser cannot set headers on a WebSocket
    services().keys.check(auth)


def read_body(model):
    """A POST body, validated whole by its model (schemas.py); no body at all means {} (the defaults)."""
    return validate(model, read_json(empty={}), max_tokens_limit=services().config.max_tokens_limit)
