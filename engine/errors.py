"""What the engine refuses, as its own exceptions: the web layer maps them to HTTP (web/errors.py), the
benchmarks and tests catch them as they are."""
from __future__ import annotations


class EngineError(Exception):
    """`code` is a short machine-readable reason, as OpenAI's error codes are."""

    code = "engine_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code


class ModelNotFound(EngineError):
    code = "model_not_found"


class ModelNotLoadable(EngineError):
    """The checkpoint cannot be served (a bad file, or too large for the memory there is)."""

    code = "model_not_loadable"


class ModelBusy(EngineError):
    """An unload asked of a model that still has sequences in flight."""

    code = "model_busy"


class Unavailable(EngineError):
    """Not now, maybe soon: the queue is full, the model is being unloaded, the server is shutting down."""

    code = "server_busy"

    def __init__(self, message: str, code: str | None = None, retry_after: int = 1):
        super().__init__(message, code)
        self.retry_after = retry_after
