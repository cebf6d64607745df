"""The preference-annotation service: /api (the routes and shapes of the annotation service our users come
from), the training-log WebSocket and the /annotate page, one blueprint (common.bp)."""
from __future__ import annotations

from .. import errors
from . import api, model, ws  # noqa: F401  (importing them adds their routes to the blueprint)
from .common import Annotate, bp, envelope
from .jobs import Trainer
from .store import Store


def init_app(app) -> None:
    """Register the annotation API, its WebSocket and the /annotate page."""
    cfg = app.extensions["nanogpt"].config
    app.extensions["annotate"] = Annotate(Store(cfg.data_dir), Trainer(cfg.data_dir, cfg.model_dir))
    app.register_blueprint(bp)
    errors.add_error_shape(app, ("/api/", "/ws/"), envelope)
