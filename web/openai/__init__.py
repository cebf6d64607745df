"""The OpenAI-compatible API under /v1: the pydantic protocol, serving (request -> engine -> response or SSE
frames, no Flask), the response builders and the routes (one blueprint)."""
from .routes import bp

__all__ = ["bp"]
