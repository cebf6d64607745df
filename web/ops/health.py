"""GET /health: liveness and what this worker has loaded; public, and never waits on the engine."""
from __future__ import annotations

from .common import bp, services


@bp.get("/health")
def health():
    """Status, the default model, and per loaded model how many sequences run and wait."""
    registry = services().registry
    return {
        "status": "ok",
        "default_model": registry.default_id,
        "models_loaded": [m.id for m in registry.loaded()],
        "engines": {m.id: {"running": m.engine.running, "waiting": m.engine.waiting, "max_batch": m.engine.max_batch}
                    for m in registry.loaded()},
        "queue_depth": sum(m.engine.waiting for m in registry.loaded()),  # sequences waiting for a decoder slot
        "gpus": registry.gpu_memory(),  # per GPU: memory_allocated / memory_reserved bytes; [] on CPU
    }
