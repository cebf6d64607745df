"""Server settings: defaults, then the environment, then what `create_app(config)` is given (tests)."""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from model.settings import ModelSettings, choice

DEFAULT_API_KEY = "a_default_key_for_testing"  # the key of the Flask nanoGPT server our users come from
log = logging.getLogger(__name__)
T = TypeVar("T")


def _number(env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T] = int) -> T:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None


@dataclass
class ServerConfig:
    # MODEL_CHECKPOINT, DEVICE, DTYPE, MODEL_GELU, QUANTIZE, KV_CACHE_DTYPE
    model: ModelSettings = field(default_factory=ModelSettings)
    model_dir: str = "log"  # MODEL_DIR: every *.pt file and checkpoint folder in it is a model
    served_model_name: str | None = None  # SERVED_MODEL_NAME: the id of the default model
    host: str = "0.0.0.0"  # HOST
    port: int = 5002  # PORT (the dev server's; gunicorn_config.py reads PORT itself, default 5001)
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)  # MY_API_KEY, comma separated
    default_key: bool = True  # no MY_API_KEY was given: the public default key is in use
    max_batch: int = 8  # MAX_BATCH: sequences decoded together per model
    max_queue: int = 64  # MAX_QUEUE: sequences waiting for a slot per model before 503
    kv_cache_mb: int = 0  # KV_CACHE_MB: KV cache budget per model; lowers MAX_BATCH to what fits (0: no cap)
    prefill_tokens: int = 0  # PREFILL_TOKENS: prompt tokens prefilled per step beyond the first (0: 256 CPU, 2048 CUDA)
    engine_process: str = "auto"  # ENGINE_PROCESS: each model's engine in a process of its own: auto (CUDA), 1, 0
    prefix_cache_mb: float = 256  # PREFIX_CACHE_MB: cached prompt prefixes per model (0: off)
    model_cache_size: int = 2  # MODEL_CACHE_SIZE: models kept loaded per worker
    max_tokens_limit: int = 4096  # MAX_TOKENS_LIMIT: the largest max_tokens a request may ask for
    max_request_bytes: int = 1 << 20  # MAX_REQUEST_BYTES: larger bodies get 413
    max_prompt_tokens: int = 32768  # MAX_PROMPT_TOKENS: longer prompts (tokens, per prompt) get 400
    chat_format: str | None = None  # CHAT_FORMAT: a JSON file with the default chat transcript format
    cors_origins: str = "*"  # CORS_ORIGINS: comma-separated origins allowed to call from a browser
    data_dir: str = "data"  # DATA_DIR: the annotation database and training jobs (web/annotate_*.py)
    stream_write_timeout: float = 30.0  # STREAM_WRITE_TIMEOUT: s a stream's write may block before it is ended

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "ServerConfig":
        keys = tuple(k.strip() for k in (env.get("MY_API_KEY") or "").split(",") if k.strip())
        return cls(
            model=ModelSettings.from_env(env),
            model_dir=env.get("MODEL_DIR") or cls.model_dir,
            served_model_name=env.get("SERVED_MODEL_NAME") or None,
            host=env.get("HOST") or cls.host,
            port=_number(env, "PORT", cls.port),
            api_keys=keys or (DEFAULT_API_KEY,),
            default_key=not keys,
            max_batch=_number(env, "MAX_BATCH", cls.max_batch),
            max_queue=_number(env, "MAX_QUEUE", cls.max_queue),
            kv_cache_mb=_number(env, "KV_CACHE_MB", cls.kv_cache_mb),
            prefill_tokens=_number(env, "PREFILL_TOKENS", cls.prefill_tokens),
            engine_process=choice(env, "ENGINE_PROCESS", cls.engine_process, ("auto", "1", "0")),
            prefix_cache_mb=_number(env, "PREFIX_CACHE_MB", cls.prefix_cache_mb, float),
            model_cache_size=_number(env, "MODEL_CACHE_SIZE", cls.model_cache_size),
            max_tokens_limit=_number(env, "MAX_TOKENS_LIMIT", cls.max_tokens_limit),
            max_request_bytes=_number(env, "MAX_REQUEST_BYTES", cls.max_request_bytes),
            max_prompt_tokens=_number(env, "MAX_PROMPT_TOKENS", cls.max_prompt_tokens),
            chat_format=env.get("CHAT_FORMAT") or None,
            cors_origins=env.get("CORS_ORIGINS") or cls.cors_origins,
            data_dir=env.get("DATA_DIR") or cls.data_dir,
            stream_write_timeout=_number(env, "STREAM_WRITE_TIMEOUT", cls.stream_write_timeout, float),
        )

    def with_overrides(self, overrides: Mapping[str, object]) -> "ServerConfig":
        """A copy with the given fields replaced; unknown names raise TypeError, so a typo in a test fails."""
        cfg = dataclasses.replace(self, **overrides)
        if "api_keys" in overrides:
            cfg.default_key = False
        return cfg

    def warn_if_insecure(self) -> None:
        if self.default_key:
            log.warning("*" * 78)
            log.warning("MY_API_KEY is not set: the server accepts the PUBLIC default key %r.", DEFAULT_API_KEY)
            log.warning("Anyone who can reach this port can use it. Set MY_API_KEY=<secret>[,<secret>...].")
            log.warning("*" * 78)
