"""Settings of the command-line tools and the server, in one place: defaults, then the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .sampling import SamplingParams

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "bundled" / "shakespeare-12m.pt"


@dataclass
class ModelSettings:
    checkpoint: str = str(BUNDLED_CHECKPOINT)  # MODEL_CHECKPOINT
    device: str = "auto"  # DEVICE: auto | cpu | cuda | cuda:1 | mps
    dtype: str = "auto"  # DTYPE: auto | float32 | bfloat16 | float16
    gelu: str | None = None  # MODEL_GELU: none | tanh, for checkpoints of the pre-2023 (tanh) nanoGPT
    quantize: str = "none"  # QUANTIZE: none | int8 (weights int8 per output channel at load: model/quantize.py)

    @classmethod
    def from_env(cls, env=os.environ) -> "ModelSettings":
        return cls(checkpoint=env.get("MODEL_CHECKPOINT") or cls.checkpoint,
                   device=env.get("DEVICE") or cls.device,
                   dtype=env.get("DTYPE") or cls.dtype,
                   gelu=env.get("MODEL_GELU") or None,
                   quantize=env.get("QUANTIZE") or cls.quantize)

# the Flask nanoGPT server our users come from (shared/seeds/000): one source for the API, the page and the CLI
DEFAULT_SAMPLING = SamplingParams(max_tokens=150, temperature=0.7, top_k=50, top_p=0.9)
