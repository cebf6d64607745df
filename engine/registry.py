"""Which models exist, and the per-worker cache of loaded ones.

Ids are names, never paths: the default model (MODEL_CHECKPOINT, listed as SERVED_MODEL_NAME or its file
name) and every entry of MODEL_DIR: a `*.pt` file, a Hugging Face folder (config.json) or a nanoGPT out_dir
(ckpt.pt). A request's model id is only ever looked up in that listing, so `../x`, absolute paths and encoded
slashes cannot name a file outside MODEL_DIR. The directory is listed again on each lookup, so checkpoints
dropped in while the server runs are served without a restart.

Loaded models live in a bounded LRU cache per worker; each costs its weights plus its engine's KV cache
(README "Memory"). Loading runs where the Host puts blocking work (gevent's threadpool under gunicorn), one
load per checkpoint at a time, never one behind another's.
"""
from __future__ import annotations

import collections
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from model.checkpoint import CheckpointError
from model.loader import load_model, resolve_device
from model.settings import ModelSettings

from . import chat_format, devices
from .engine import Engine
from .errors import ModelBusy, ModelNotFound, ModelNotLoadable, Unavailable
from .host import THREADS, Host
from .process import ProcessEngine

log = logging.getLogger(__name__)
# how long a request may go by the last scan of MODEL_DIR: a scan per request (a stat per entry) was 5% of a busy
# worker's time; an id not in the last scan always gets a fresh one
LISTING_TTL_S = 1.0
UNLOAD_JOIN_S = 10.0  # how long an unload waits for the engine thread to leave its current step


@dataclass
class ServedModel:
    id: str
    path: Path
    engine: Engine | ProcessEngine
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


def _holds_cuda(engine: Engine | ProcessEngine) -> bool:
    """Whether the engine's model sits on CUDA in this process (an engine process gives all back as it exits)."""
    return isinstance(engine, Engine) and engine.lm.device.type == "cuda"


def cache_key(path: Path) -> Path:
    # absolute, not resolve()d: two links to one file may carry different chat formats
    return Path(os.path.abspath(path))


def checkpoint_file(p: Path) -> Path:
    # a nanoGPT out_dir is served through its ckpt.pt; a Hugging Face folder is read as a folder
    return p / "ckpt.pt" if p.is_dir() and not (p / "config.json").is_file() else p


class RegistryConfig(Protocol):
    """The settings the registry reads (web/config.py ServerConfig has them, from the environment)."""

    model: ModelSettings  # MODEL_CHECKPOINT (the default model), DEVICE, DTYPE, MODEL_GELU, QUANTIZE
    model_dir: str
    served_model_name: str | None
    chat_format: str | None
    max_batch: int
    max_queue: int
    kv_cache_mb: int
    prefill_tokens: int
    engine_process: str  # ENGINE_PROCESS: "auto" (on CUDA), "1" or "0"
    prefix_cache_mb: float
    model_cache_size: int


class Registry:
    def __init__(self, config: RegistryConfig, on_load: Callable[[str], None] | None = None, host: Host = THREADS):
        self.config = config
        self.host = host
        self.default_chat = chat_format.default_format(config.chat_format)
        self.on_load = on_load  # called with the id of each model loaded (metrics export its families from then)
        self.draining = False  # shutting down: no new loads, and the engines admit no new sequences
        self._cache: collections.OrderedDict[Path, ServedModel] = collections.OrderedDict()
        # one load per checkpoint at a time (a second request for it waits for the first load), but never one
        # checkpoint's load behind another's; gevent locks under gevent, so waiters yield
        self._load_locks: dict[Path, threading.Lock] = collections.defaultdict(threading.Lock)
        self._cache_lock = threading.Lock()  # guards the OrderedDict; never held across a blocking call
        self._loading = 0  # loads under way, each holding a place in the cache
        self._scanned: tuple[float, dict[str, Path]] = (-LISTING_TTL_S, {})  # (when, listing) of the last scan

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
        self._scanned = (time.monotonic(), out)
        return out

    @property
    def default_id(self) -> str:
        return self.config.served_model_name or Path(self.config.model.checkpoint).name

    def resolve(self, model_id: str | None) -> tuple[str, Path]:
        """The id and path of a requested model; no id means the default model."""
        model_id = model_id or self.default_id
        scanned_at, listing = self._scanned
        if model_id not in listing or time.monotonic() - scanned_at > LISTING_TTL_S:
            listing = self.listing()
        if model_id not in listing:
            # the listing stays out of the message (GET /v1/models is where it is), and so does a huge id
            shown = model_id if len(model_id) <= 100 else model_id[:100] + "..."
            raise ModelNotFound(f"The model `{shown}` does not exist; GET /v1/models lists the models.")
        return model_id, listing[model_id]

    def get(self, model_id: str | None) -> ServedModel:
        """The loaded model (loading it on first use) behind an id."""
        model_id, path = self.resolve(model_id)
        key = cache_key(path)
        served = self._cached(key)
        if served is None:
            if self.draining:
                raise Unavailable("The server is shutting down; try again.", "shutting_down")
            with self._load_locks[key]:
                served = self._cached(key) or self._load(model_id, path, key)
        if served.id != model_id:  # one checkpoint under two ids (the alias and its file name)
            served = ServedModel(model_id, served.path, served.engine, served.chat)
        return served

    def _cached(self, key: Path) -> ServedModel | None:
        with self._cache_lock:
            served = self._cache.get(key)
            if served is not None and served.engine.stopped:  # its engine process died: load it again
                del self._cache[key]
                return None
            if served is not None:
                self._cache.move_to_end(key)
            return served

    def _load(self, model_id: str, path: Path, key: Path) -> ServedModel:
        with self._cache_lock:
            self._evict_for_one_more()
            self._loading += 1  # holds its place in the cache while it loads, beside other models' loads
        try:
            served = self._build(model_id, path)
            with self._cache_lock:
                self._cache[key] = served
        finally:
            with self._cache_lock:
                self._loading -= 1
        lm = served.engine.lm
        log.info("loaded %s: %s on %s (%s)", model_id, lm.checkpoint.format, lm.device, lm.dtype)
        if self.on_load is not None:
            self.on_load(model_id)
        return served

    def _build(self, model_id: str, path: Path) -> ServedModel:
        settings, c = self.config.model, self.config
        log.info("loading %s from %s", model_id, path)
        engine_args = dict(max_batch=c.max_batch, max_queue=c.max_queue, kv_cache_mb=c.kv_cache_mb,
                           prefill_tokens=c.prefill_tokens, prefix_cache_mb=c.prefix_cache_mb)
        try:
            if self.own_process:
                engine = self.host.run_blocking(lambda: ProcessEngine(checkpoint_file(path), settings, self.host,
                                                                      **engine_args))
            else:
                lm = self.host.run_blocking(lambda: load_model(
                    checkpoint_file(path), settings.device, settings.dtype, settings.gelu, settings.quantize,
                    kv_slots=c.max_batch, kv_cache_mb=c.kv_cache_mb, kv_dtype=settings.kv_cache_dtype, panels=True))
                engine = self.host.run_blocking(lambda: Engine(lm, host=self.host, **engine_args))
        except CheckpointError as e:  # the operator's file, not the client's request, is at fault
            raise ModelNotLoadable(f"The model `{model_id}` cannot be served: {e.problem}") from None
        return ServedModel(model_id, path, engine, chat_format.for_checkpoint(path, self.default_chat))

    @property
    def own_process(self) -> bool:
        """Whether each model's engine runs in a process of its own (ENGINE_PROCESS; auto: on CUDA)."""
        choice = self.config.engine_process
        return choice == "1" or (choice == "auto" and resolve_device(self.config.model.device).type == "cuda")

    def _evict_for_one_more(self) -> None:
        # under _cache_lock
        while len(self._cache) + self._loading >= max(self.config.model_cache_size, 1):
            # least recently used first, and only a model with nothing in flight
            victim = next((k for k, m in self._cache.items() if m.engine.idle), None)
            if victim is None:
                raise Unavailable(f"All {len(self._cache) + self._loading} model places are busy and "
                                  f"MODEL_CACHE_SIZE={self.config.model_cache_size}; try again shortly.",
                                  retry_after=5)
            log.info("unloading %s to make room", self._cache[victim].id)
            self._cache.pop(victim).engine.stop()

    def gpu_memory(self) -> list[dict]:
        """devices.gpu_memory() of this worker, with what its engine processes last reported added per GPU."""
        gpus = {gpu["index"]: gpu for gpu in devices.gpu_memory()}
        for engine in (m.engine for m in self.loaded() if isinstance(m.engine, ProcessEngine)):
            for theirs in engine.gpus:
                ours = gpus.setdefault(theirs["index"], {"index": theirs["index"], "memory_allocated": 0,
                                                         "memory_reserved": 0})
                ours["memory_allocated"] += theirs["memory_allocated"]
                ours["memory_reserved"] += theirs["memory_reserved"]
                ours.update({k: v for k, v in theirs.items() if k not in ours})  # name, memory_total
        return [gpus[i] for i in sorted(gpus)]

    def loaded(self) -> list[ServedModel]:
        with self._cache_lock:
            return list(self._cache.values())

    def loaded_at(self, path: Path) -> ServedModel | None:
        """The model loaded from this checkpoint in this worker, if any (without touching its LRU place)."""
        with self._cache_lock:
            return self._cache.get(cache_key(path))

    def unload(self, model_id: str, force: bool = False) -> bool:
        """Drop a model from this worker and give its memory back (GPU included); False when it was not loaded.

        ModelBusy while it has sequences in flight, unless `force`: they then fail with Unavailable
        ('model_unloading'), which clients see as a 503 to retry.
        """
        _, path = self.resolve(model_id)
        key = cache_key(path)
        with self._cache_lock:
            served = self._cache.get(key)
            if served is None:
                return False
            if not served.engine.idle and not force:
                raise ModelBusy(f"The model `{model_id}` has {served.engine.in_flight} sequences in flight; retry "
                                f"when they finish, or force the unload to fail them.")
            del self._cache[key]
        engine = served.engine
        engine.stop()
        # the thread finishes its step and drops the decoder (KV cache) before its memory can be returned
        if not self.host.run_blocking(partial(engine.join, UNLOAD_JOIN_S)):
            log.warning("the engine of %s did not stop within %.0f s", model_id, UNLOAD_JOIN_S)
        on_cuda = _holds_cuda(engine)
        del engine, served
        gc.collect()
        if on_cuda:
            devices.free_cuda(other_cuda_models=any(_holds_cuda(m.engine) for m in self.loaded()))
        log.info("unloaded %s", model_id)
        return True

    def drain(self) -> None:
        """Shutting down: running sequences finish, new ones get a 503 (SIGTERM: gunicorn_config.py)."""
        self.draining = True
        for served in self.loaded():
            served.engine.draining = True

    def stop_all(self, error: BaseException | None = None) -> list[Engine]:
        """Drop every model and stop its engine, which fails what is in flight with `error` (Engine.stop's
        default when None), without waiting; the stopped engines, for the caller to join."""
        with self._cache_lock:
            engines = [served.engine for served in self._cache.values()]
            self._cache.clear()
        for engine in engines:
            engine.stop(error)
        return engines

    def close(self, timeout: float = 5.0) -> None:
        """Stop every engine and wait for its thread (registered with atexit by create_app)."""
        for engine in self.stop_all():
            engine.join(timeout)
