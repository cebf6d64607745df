"""Settings of the command-line tools and the server, in one place: defaults, then the environment."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .sampling import SamplingParams

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
REPO = Path(__file__).resolve().parent.parent
BUNDLED_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "bundled" / "shakespeare-12m.pt"


@dataclass
class ModelSettings:
    checkpoint: str = str(BUNDLED_CHECKPOINT)  # MODEL_CHECKPOINT
    device: str = "auto"  # DEVICE: auto | cpu | cuda | cuda:1 | mps
    dtype: str = "auto"  # DTYPE: auto | float32 | bfloat16 | float16
    gelu: str | None = None  # MODEL_GELU: none | tanh, for checkpoints of the pre-2023 (tanh) nanoGPT
    quantize: str = "none"  # QUANTIZE: none | int8 (weights int8 per output channel at load: model/quantize.py)
    kv_cache_dtype: str = "auto"  # KV_CACHE_DTYPE: auto (the model's) | float32 | bfloat16

    @classmethod
    def from_env(cls, env=os.environ) -> "ModelSettings":
        """Raises ValueError for a value that is not one of a setting's choices: at startup, not at every request."""
        return cls(checkpoint=env.get("MODEL_CHECKPOINT") or cls.checkpoint,
                   device=env.get("DEVICE") or cls.device,
                   dtype=choice(env, "DTYPE", cls.dtype, ("auto", *DTYPES)),
                   gelu=choice(env, "MODEL_GELU", "", ("", "none", "tanh")) or None,
                   quantize=choice(env, "QUANTIZE", cls.quantize, ("none", "int8")),
                   kv_cache_dtype=choice(env, "KV_CACHE_DTYPE", cls.kv_cache_dtype,
                                          ("auto", "float32", "fp32", "bfloat16", "bf16")))


def choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    """env[name] (stripped), or default where it is unset or empty; ValueError where it is not one of allowed."""
    raw = (env.get(name) or "").strip() or default
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return raw

# the Flask nanoGPT server our users come from (shared/seeds/000): one source for the API, the page and the CLI
DEFAULT_SAMPLING = SamplingParams(max_tokens=150, temperature=0.7, top_k=50, top_p=0.9)
