"""Place a checkpoint's model on a device: device and dtype chosen automatically or by the user."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from . import cpu_kernel
from .checkpoint import Checkpoint, read_checkpoint
from .gpt import GPT
from .tokenizer import Tokenizer

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on a CUDA GPU that supports it and float32 everywhere else (exact on CPU)."""
    if name == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto or one of {', '.join(DTYPES)}")
    return DTYPES[name]


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    checkpoint: Checkpoint  # its state_dict is emptied once the weights are placed
    device: torch.device
    dtype: torch.dtype

    @property
    def config(self):
        return self.checkpoint.config


def load_model(path: str | Path, device: str = "auto", dtype: str = "auto", gelu: str | None = None,
               quantize: str = "none") -> LoadedModel:
    """Read a checkpoint and move its weights to the device; raises CheckpointError for a bad file."""
    ck = read_checkpoint(path, gelu=gelu)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    with torch.device("meta"):
        model = GPT(ck.config)
    sd = ck.state_dict
    tied = sd["lm_head.weight"] is sd["transformer.wte.weight"] or \
        sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr() or \
        torch.equal(sd["lm_head.weight"], sd["transformer.wte.weight"])
    # assign=True adopts the (memory-mapped) tensors instead of copying them into fresh parameters
    model.load_state_dict(sd, strict=True, assign=True)
    if tied:
        model.tie_weights()
    place_model(model, dev, dt, quantize)
    ck.state_dict = {}  # drop the CPU copies: on a GPU only the device weights stay alive
    return LoadedModel(model, ck.tokenizer, ck, dev, dt)


def place_model(model: GPT, device: torch.device, dtype: torch.dtype, quantize: str = "none") -> GPT:
    """Move the weights to the device and dtype and make them ready to decode with (in place; returns the model)."""
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    if quantize != "none":
        from .quantize import quantize_model
        quantize_model(model, quantize)
    elif device.type == "cpu" and dtype == torch.float32:
        cpu_kernel.library()  # build the decode kernel now rather than in the first request
    return model
