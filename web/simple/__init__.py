"""The simple API of LLaMA-Factory-style services (/generate, /chat, /batch, /model/info), one blueprint over
the OpenAI surface's validation and serving."""
from .routes import bp

__all__ = ["bp"]
