"""Model management: what a model is (its details, for GET /v1/models/<id>), POST .../load and .../unload,
and the per-GPU memory that /health reports.

Details of a model this worker has not loaded come from its checkpoint's metadata: read_checkpoint
memory-maps torch files, so that costs little, and the answer is cached per file version. Load and unload act
on the worker that answers (each gunicorn worker has its own cache; README "Operating the server").
"""
from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

import torch
from flask import Blueprint, current_app, request

from model.checkpoint import CheckpointError, parameter_count, read_checkpoint
from model.loader import resolve_device, resolve_dtype

from .errors import APIError
from .registry import Registry, ServedModel, _checkpoint_file, _run_off_loop

log = logging.getLogger(__name__)
bp = Blueprint("models_admin", __name__, url_prefix="/v1")
_META: dict[tuple, dict] = {}  # (path, mtime, size) -> details read from the file; bounded below
_META_MAX = 64
UNLOAD_JOIN_S = 10.0  # how long unload waits for the engine thread to leave its current step


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"


@bp.before_request
def authenticate():
    if request.method != "OPTIONS":  # CORS preflights carry no credentials
        current_app.extensions["nanogpt"].keys.check(request.headers.get("Authorization"))


def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


def _loaded(registry: Registry, path: Path) -> ServedModel | None:
    key = os.path.abspath(path)
    return next((m for m in registry.loaded() if os.path.abspath(m.path) == key), None)


def _from_config(fmt: str, config, tokenizer, step, val_loss, parameters: int) -> dict:
    return {
        "format": fmt, "parameters": parameters, "n_layer": config.n_layer, "n_head": config.n_head,
        "n_embd": config.n_embd, "block_size": config.block_size,
        "max_model_len": config.block_size,  # vLLM's name for the context length
        "vocab_size": config.vocab_size,  # rows of the embedding (nanoGPT pads GPT-2's 50257 to 50304)
        "tokenizer": tokenizer.name, "n_vocab": tokenizer.n_vocab,
        "step": step, "val_loss": val_loss,
    }


def _read_metadata(path: Path, gelu: str | None) -> dict:
    ck = read_checkpoint(_checkpoint_file(path), gelu=gelu)
    head, wte = ck.state_dict["lm_head.weight"], ck.state_dict["transformer.wte.weight"]
    n = parameter_count(ck.config, tied=head is wte or head.data_ptr() == wte.data_ptr())  # no allocation
    return _from_config(ck.format, ck.config, ck.tokenizer, ck.step, ck.val_loss, n)


def _metadata(path: Path, gelu: str | None) -> dict:
    f = _checkpoint_file(path)
    st = f.stat()
    key = (os.path.abspath(f), st.st_mtime_ns, st.st_size, gelu)
    if key not in _META:
        meta = _run_off_loop(lambda: _read_metadata(path, gelu))  # unpickling blocks: keep it off the hub
        if len(_META) >= _META_MAX:
            _META.pop(next(iter(_META)))
        _META[key] = meta
    return dict(_META[key])


def details(registry: Registry, model_id: str, path: Path) -> dict:
    """Format, size and training facts of a model, whether it is loaded here, and its device and dtype."""
    served = _loaded(registry, path)
    if served is not None:
        lm = served.engine.lm
        out = _from_config(lm.checkpoint.format, lm.config, lm.tokenizer, lm.checkpoint.step,
                           lm.checkpoint.val_loss, lm.model.num_params(non_embedding=False))
        return {**out, "loaded": True, "device": str(lm.device), "dtype": _dtype_name(lm.dtype),
                "running": served.engine.running, "waiting": served.engine.waiting}
    settings = registry.config.model
    try:
        out = _metadata(path, settings.gelu)
    except (CheckpointError, OSError) as e:  # the operator's file is broken: say so rather than fail the GET
        out = {"error": getattr(e, "problem", str(e))}
    try:  # where it would load: DEVICE and DTYPE resolved as the loader will resolve them
        device = resolve_device(settings.device)
        where = {"device": str(device), "dtype": _dtype_name(resolve_dtype(settings.dtype, device))}
    except (RuntimeError, ValueError):
        where = {"device": settings.device, "dtype": settings.dtype}
    return {**out, "loaded": False, **where}


def gpu_memory() -> list[dict]:
    """Per visible GPU: bytes allocated by tensors and reserved by torch's caching allocator; [] without CUDA.
    Never initialises CUDA itself (a worker that loaded nothing stays off the GPU)."""
    if not torch.cuda.is_available():
        return []
    ready = torch.cuda.is_initialized()
    out = []
    for i in range(torch.cuda.device_count()):
        gpu = {"index": i, "memory_allocated": torch.cuda.memory_allocated(i) if ready else 0,
               "memory_reserved": torch.cuda.memory_reserved(i) if ready else 0}
        if ready:
            props = torch.cuda.get_device_properties(i)
            gpu.update(name=props.name, memory_total=props.total_memory)
        out.append(gpu)
    return out


def _free_cuda(registry: Registry) -> None:
    """Give freed blocks back to the driver, so nvidia-smi sees the memory return."""
    if not any(m.engine.lm.device.type == "cuda" for m in registry.loaded()):
        # the exited engine thread leaves its cuBLAS workspace (32 MiB on an H200) behind; clearing it is only
        # safe when no other engine thread may be inside a cuBLAS call, i.e. when no CUDA model is left
        clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear is not None:
            clear()
    torch.cuda.empty_cache()


def _services():
    return current_app.extensions["nanogpt"]


@bp.post("/models/<path:model_id>/load")
def load(model_id: str):
    """Load a model into this worker now (the least recently used idle one may be evicted)."""
    registry = _services().registry
    served = registry.get(model_id)  # 404 unknown, 400 unreadable, 503 when every cached model is busy
    return {"id": model_id, "object": "model", **details(registry, model_id, served.path)}


@bp.post("/models/<path:model_id>/unload")
def unload(model_id: str):
    """Drop a model from this worker and free its memory; 409 while it has work, unless ?force=true."""
    registry = _services().registry
    model_id, path = registry.resolve(model_id)
    served = _loaded(registry, path)
    force = request.args.get("force", "").lower() in ("1", "true", "yes")
    if served is not None and not served.engine.idle and not force:
        raise Conflict(f"The model `{model_id}` has {served.engine.in_flight} sequences in flight; retry when "
                       f"they finish, or add ?force=true to fail them.", "model", "model_busy")
    unloaded = False
    if served is not None:
        engine = registry.unload(model_id)
        if engine is not None:
            unloaded = True
            # the thread finishes its step and drops the decoder (KV cache) before memory can be returned
            if not _run_off_loop(lambda: engine.join(UNLOAD_JOIN_S)):
                log.warning("the engine of %s did not stop within %.0f s", model_id, UNLOAD_JOIN_S)
            on_cuda = engine.lm.device.type == "cuda"
            del engine, served
            gc.collect()
            if on_cuda:
                _free_cuda(registry)
            log.info("unloaded %s", model_id)
    return {"id": model_id, "object": "model", "unloaded": unloaded, **details(registry, model_id, path)}
