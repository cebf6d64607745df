"""OpenAI-shaped errors: exceptions that carry status, type, param and code, and the handlers that render them.

The SDKs map the status to an exception class and retry 408/409/429/5xx, so a client mistake must never
become a 5xx: 500 is reserved for our own bugs. This module imports no Flask (protocol.py raises these).
"""
from __future__ import annotations

import logging

from werkzeug.exceptions import HTTPException

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
    else:
        err = APIError(e.description or e.name, code=e.name.lower().replace(" ", "_"))
    err.status = e.code or 500
    err.type = "invalid_request_error" if err.status < 500 else "server_error"
    if e.code == 405:
        err.headers = {"Allow": ", ".join(e.valid_methods or [])}
    return err


def response(err: APIError):
    """The (body, status, headers) triple Flask turns into a JSON response."""
    return err.body(), err.status, err.headers


def init_app(app) -> None:
    """Register the handlers; they return normal responses, so after_request (CORS) still applies."""
    limit = app.config.get("MAX_CONTENT_LENGTH")

    @app.errorhandler(APIError)
    def _api_error(e: APIError):
        return response(e)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if e.code == 413:
            e.description = f"{limit} bytes"
        return response(_from_http_exception(e))

    @app.errorhandler(Exception)
    def _bug(e: Exception):
        log.exception("unhandled error")
        return response(APIError(f"Internal server error ({type(e).__name__}); see the server log.",
                                 code="internal_error"))
