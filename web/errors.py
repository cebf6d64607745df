"""OpenAI-shaped errors: exceptions that carry status, type, param and code, and the handlers that render them.

The SDKs map the status to an exception class and retry 408/409/429/5xx, so a client mistake must never
become a 5xx: 500 is reserved for our own bugs. This module imports no Flask at import time (openai/protocol.py raises
these). Paths of another API answer their errors in its own shape: add_error_shape (the /api envelope).
"""
from __future__ import annotations

import logging

from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from engine import EngineError, ModelBusy, ModelNotFound, ModelNotLoadable, Unavailable

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error answered as {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class BadRequest(APIError):
    status = 400
    type = "invalid_request_error"


class Unauthorized(APIError):
    status = 401
    type = "invalid_request_error"  # what api.openai.com answers, with code invalid_api_key


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"


class ServiceUnavailable(APIError):
    """The engine's queue is full: the SDKs retry 503 by themselves and honour Retry-After."""

    status = 503
    type = "server_error"

    def __init__(self, message: str, retry_after: int = 1, code: str | None = "server_busy"):
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})


def _from_http_exception(e: HTTPException) -> APIError:
    # werkzeug raises these for routing and body limits; give them the OpenAI shape too
    if e.code == 413:
        err = APIError(f"The request body is too large (the limit is {e.description}).", code="request_too_large")
    elif isinstance(e, WebsocketMismatch):  # werkzeug's words for it are a generic "could not understand"
        err = APIError("WebSocket routes (/ws/train/logs) take WebSocket connections only (ws:// or wss://), and "
                       "the other routes plain HTTP only.", code="websocket_mismatch")
    else:
        err = APIError(e.description or e.name, code=e.name.lower().replace(" ", "_"))
    err.status = e.code or 500
    err.type = "invalid_request_error" if err.status < 500 else "server_error"
    if e.code == 405:
        err.headers = {"Allow": ", ".join(e.valid_methods or [])}
    return err


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"


def from_engine(e: EngineError) -> APIError:
    """The engine's refusals as HTTP: an unknown model 404, an unservable one 400 (the operator's file, not the
    client's request; a 400 is not retried by the SDKs), a busy one 409, and 503 with Retry-After for what may
    succeed shortly."""
    if isinstance(e, Unavailable):
        return ServiceUnavailable(e.message, e.retry_after, e.code)
    kind = {ModelNotFound: NotFound, ModelNotLoadable: BadRequest, ModelBusy: Conflict}.get(type(e), APIError)
    return kind(e.message, "model" if kind is not APIError else None, e.code)


def generation_error(error: BaseException) -> APIError:
    """What a request whose generation the engine failed answers: the engine's own verdict (unloaded, shutting
    down, client not reading) as it is, anything else (a bug, an out-of-memory) as a logged 500."""
    if isinstance(error, EngineError):
        return from_engine(error)
    log.error("generation failed", exc_info=error)
    return APIError(f"Generation failed ({type(error).__name__}: {error}); see the server log.",
                    code="generation_failed")


def response(err: APIError):
    """The (body, status, headers) triple Flask turns into a JSON response."""
    return err.body(), err.status, err.headers


SHAPES = "error_shapes"  # app.extensions key: [(path prefixes, render)]


def add_error_shape(app, prefixes: tuple[str, ...], render) -> None:
    """Render every error of a path under `prefixes` with `render(err)` (a Flask response value) instead of
    OpenAI's shape: werkzeug's 404, 405 and 413 and our own 500 as well as the APIErrors the views raise."""
    app.extensions.setdefault(SHAPES, []).append((tuple(prefixes), render))


def init_app(app) -> None:
    """Register the handlers; they return normal responses, so after_request (CORS) still applies."""
    from flask import request  # here, so that importing this module needs no Flask

    limit = app.config.get("MAX_CONTENT_LENGTH")

    def respond(err: APIError):
        for prefixes, render in app.extensions.get(SHAPES, ()):
            if request.path.startswith(prefixes):
                return render(err)
        return response(err)

    @app.errorhandler(APIError)
    def _api_error(e: APIError):
        return respond(e)

    @app.errorhandler(EngineError)
    def _engine_error(e: EngineError):
        return respond(from_engine(e))

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if e.code == 413:
            e.description = f"{limit} bytes"
        return respond(_from_http_exception(e))

    @app.errorhandler(Exception)
    def _bug(e: Exception):
        log.exception("unhandled error")
        return respond(APIError(f"Internal server error ({type(e).__name__}); see the server log.",
                                code="internal_error"))
