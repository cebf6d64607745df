"""What a model is, for GET /v1/models/<id> and the simple API's /model/info: its format, size, training facts,
and whether and where it is loaded.

Details of a model this worker has not loaded come from its checkpoint's metadata: read_checkpoint
memory-maps torch files, so that costs little, and the answer is cached per file version.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from model.checkpoint import CheckpointError, parameter_count, read_checkpoint
from model.loader import resolve_device, resolve_dtype, resolve_kv_dtype

from .registry import Registry, checkpoint_file

_META: dict[tuple, dict] = {}  # (path, mtime, size) -> details read from the file; bounded below
_META_MAX = 64


def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


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
    ck = read_checkpoint(checkpoint_file(path), gelu=gelu)
    head, wte = ck.state_dict["lm_head.weight"], ck.state_dict["transformer.wte.weight"]
    n = parameter_count(ck.config, tied=head is wte or head.data_ptr() == wte.data_ptr())  # no allocation
    return _from_config(ck.format, ck.config, ck.tokenizer, ck.step, ck.val_loss, n)


def _metadata(registry: Registry, path: Path, gelu: str | None) -> dict:
    f = checkpoint_file(path)
    st = f.stat()
    key = (os.path.abspath(f), st.st_mtime_ns, st.st_size, gelu)
    if key not in _META:
        meta = registry.host.run_blocking(lambda: _read_metadata(path, gelu))  # unpickling blocks
        if len(_META) >= _META_MAX:
            _META.pop(next(iter(_META)))
        _META[key] = meta
    return dict(_META[key])


def details(registry: Registry, model_id: str, path: Path) -> dict:
    """Format, size and training facts of a model, whether it is loaded here, and its device and dtype."""
    served = registry.loaded_at(path)
    if served is not None:
        lm = served.engine.lm
        out = _from_config(lm.checkpoint.format, lm.config, lm.tokenizer, lm.checkpoint.step,
                           lm.checkpoint.val_loss, lm.parameters)
        return {**out, "loaded": True, "device": str(lm.device), "dtype": _dtype_name(lm.dtype),
                "kv_cache_dtype": _dtype_name(lm.kv_dtype), "running": served.engine.running,
                "waiting": served.engine.waiting}
    settings = registry.config.model
    try:
        out = _metadata(registry, path, settings.gelu)
    except (CheckpointError, OSError) as e:  # the operator's file is broken: say so rather than fail the GET
        out = {"error": getattr(e, "problem", str(e))}
    try:  # where it would load: DEVICE, DTYPE and KV_CACHE_DTYPE resolved as the loader will resolve them
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        where = {"device": str(device), "dtype": _dtype_name(dtype),
                 "kv_cache_dtype": _dtype_name(resolve_kv_dtype(settings.kv_cache_dtype, dtype))}
    except (RuntimeError, ValueError):
        where = {"device": settings.device, "dtype": settings.dtype, "kv_cache_dtype": settings.kv_cache_dtype}
    return {**out, "loaded": False, **where}
