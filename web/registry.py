"""Which models exist, and the per-worker cache of loaded ones.

Ids are names, never paths: the default model (MODEL_CHECKPOINT, listed as SERVED_MODEL_NAME or its file
name) and every entry of MODEL_DIR: a `*.pt` file, a Hugging Face folder (config.json) or a nanoGPT out_dir
(ckpt.pt). A request's model id is only ever looked up in that listing, so `../x`, absolute paths and encoded
slashes cannot name a file outside MODEL_DIR. The directory is listed again on each lookup, so checkpoints
dropped in while the server runs are served without a restart.

Loaded models live in a bounded LRU cache per worker; each costs its weights plus its engine's KV cache
(README "Memory"). Loading runs off the event loop (gevent's threadpool), one load at a time.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import CheckpointError
from model.loader import load_model

from . import chat_format
from .config import ServerConfig
from .engine import Engine
from .errors import BadRequest, NotFound, ServiceUnavailable
from .mailbox import under_gevent

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    id: str
    path: Path
    engine: Engine
    chat: chat_format.ChatFormat

    @property
    def tokenizer(self):
        return self.engine.lm.tokenizer


def _is_checkpoint(p: Path) -> bool:
    if p.name.startswith("."):
        return False
    if p.is_file():
        return p.suffix == ".pt"
    return p.is_dir() and ((p / "config.json").is_file() or (p / "ckpt.pt").is_file())


def _checkpoint_file(p: Path) -> Path:
    # a nanoGPT out_dir is served through its ckpt.pt; a Hugging Face folder is read as a folder
    return p / "ckpt.pt" if p.is_dir() and not (p / "config.json").is_file() else p


def _run_off_loop(fn):
    """Run a blocking call (torch.load, weight placement) where it cannot stall the gevent hub."""
    if under_gevent():
        import gevent
        return gevent.get_hub().threadpool.apply(fn)
    return fn()


class Registry:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.default_chat = chat_format.default_format(config.chat_format)
        self._cache: collections.OrderedDict[Path, ServedModel] = collections.OrderedDict()
        self._load_lock = threading.Lock()  # one load at a time; a gevent lock under gevent, so waiters yield
        self._cache_lock = threading.Lock()  # guards the OrderedDict; never held across a blocking call

    def listing(self) -> dict[str, Path]:
        """Model id -> checkpoint path, the default model first."""
        out: dict[str, Path] = {}
        default = Path(self.config.model.checkpoint)
        if default.exists():
            out[self.default_id] = default
        model_dir = Path(self.config.model_dir)
        if model_dir.is_dir():
            for p in sorted(model_dir.iterdir()):
                if _is_checkpoint(p):
                    out.setdefault(p.name, p)
        return out

    @property
    def default_id(self) -> str:
        return self.config.served_model_name or Path(self.config.model.checkpoint).name

    def resolve(self, model_id: str | None) -> tuple[str, Path]:
        """The id and path of a requested model; no id means the default model."""
        listing = self.listing()
        model_id = model_id or self.default_id
        if model_id not in listing:
            raise NotFound(f"The model `{model_id}` does not exist. Available: {', '.join(listing) or 'none'}.",
                           "model", "model_not_found")
        return model_id, listing[model_id]

    def get(self, model_id: str | None) -> ServedModel:
        """The loaded model (loading it on first use) behind an id."""
        model_id, path = self.resolve(model_id)
        key = Path(os.path.abspath(path))  # not resolve(): two links to one file may carry different chat formats
        served = self._cached(key)
        if served is None:
            with self._load_lock:
                served = self._cached(key) or self._load(model_id, path, key)
        if served.id != model_id:  # one checkpoint under two ids (the alias and its file name)
            served = ServedModel(model_id, served.path, served.engine, served.chat)
        return served

    def _cached(self, key: Path) -> ServedModel | None:
        with self._cache_lock:
            served = self._cache.get(key)
            if served is not None:
                self._cache.move_to_end(key)
            return served

    def _load(self, model_id: str, path: Path, key: Path) -> ServedModel:
        self._evict_for_one_more()
        settings = self.config.model
        log.info("loading %s from %s", model_id, path)
        try:
            lm = _run_off_loop(lambda: load_model(_checkpoint_file(path), settings.device, settings.dtype,
                                                  settings.gelu, settings.quantize))
        except CheckpointError as e:
            # the operator's file, not the client's request, is at fault; 400 so the SDKs do not retry it
            raise BadRequest(f"The model `{model_id}` cannot be served: {e.problem}", "model",
                             "model_not_loadable") from None
        engine = _run_off_loop(lambda: Engine(lm, self.config.max_batch, self.config.max_queue,
                                                    self.config.kv_cache_mb, self.config.prefill_tokens))
        served = ServedModel(model_id, path, engine, chat_format.for_checkpoint(path, self.default_chat))
        with self._cache_lock:
            self._cache[key] = served
        log.info("loaded %s: %s on %s (%s)", model_id, lm.checkpoint.format, lm.device, lm.dtype)
        return served

    def _evict_for_one_more(self) -> None:
        with self._cache_lock:
            while len(self._cache) >= max(self.config.model_cache_size, 1):
                # least recently used first, and only a model with nothing in flight
                victim = next((k for k, m in self._cache.items() if m.engine.idle), None)
                if victim is None:
                    raise ServiceUnavailable(f"All {len(self._cache)} loaded models are busy and MODEL_CACHE_SIZE="
                                             f"{self.config.model_cache_size}; try again shortly.", retry_after=5)
                log.info("unloading %s to make room", self._cache[victim].id)
                self._cache.pop(victim).engine.stop()

    def loaded(self) -> list[ServedModel]:
        with self._cache_lock:
            return list(self._cache.values())

    def unload(self, model_id: str) -> Engine | None:
        """Drop a model from this worker's cache and stop its engine (what is in flight fails); the stopped
        engine, for the caller to join, or None when the model was not loaded (web/models_admin.py)."""
        _, path = self.resolve(model_id)
        with self._cache_lock:
            served = self._cache.pop(Path(os.path.abspath(path)), None)
        if served is None:
            return None
        served.engine.stop()
        return served.engine

    def close(self, timeout: float = 5.0) -> None:
        """Stop every engine and wait for its thread (registered with atexit by create_app)."""
        with self._cache_lock:
            engines = [served.engine for served in self._cache.values()]
            self._cache.clear()
        for engine in engines:
            engine.stop()
        for engine in engines:
            engine.join(timeout)
