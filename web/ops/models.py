"""Model management on the worker that answers: POST /v1/models/<id>/load and .../unload (each gunicorn worker
has its own models; README "Operating the server")."""
from __future__ import annotations

from engine.model_info import details

from ..request_body import query_flag
from .common import bp, services


@bp.post("/v1/models/<path:model_id>/load")
def load_model(model_id: str):
    """Load a model into this worker now (the least recently used idle one may be evicted)."""
    registry = services().registry
    served = registry.get(model_id)  # 404 unknown, 400 unreadable, 503 when every cached model is busy
    return {"id": model_id, "object": "model", **details(registry, model_id, served.path)}


@bp.post("/v1/models/<path:model_id>/unload")
def unload_model(model_id: str):
    """Drop a model from this worker and free its memory; 409 while it has work, unless ?force=true."""
    registry = services().registry
    model_id, path = registry.resolve(model_id)
    unloaded = registry.unload(model_id, query_flag("force"))  # engine.ModelBusy: 409
    return {"id": model_id, "object": "model", "unloaded": unloaded, **details(registry, model_id, path)}
