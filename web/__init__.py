"""The OpenAI-compatible HTTP layer: Flask blueprints over an inference engine that runs `model/` off the event loop.

Import `web.app` for the WSGI application; nothing here loads a model or touches a GPU at import time.
"""
