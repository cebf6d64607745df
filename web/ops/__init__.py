"""The operator surface: model management (/v1/models/<id>/load and /unload), /health, /metrics, /tokenize and
/detokenize, the OpenAPI document and its Swagger UI at /docs; one blueprint (common.bp)."""
from __future__ import annotations

from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint

from . import health, models, openapi, tokens  # noqa: F401  (importing them adds their routes to the blueprint)
from .common import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # validatorUrl None: Swagger UI would otherwise fetch a badge from validator.swagger.io
    app.register_blueprint(get_swaggerui_blueprint("/docs", "/openapi.json", config={
        "app_name": f"{openapi.TITLE} API", "validatorUrl": None, "persistAuthorization": True}))
