"""Host lists to the device without waiting for the GPU."""
from __future__ import annotations

import torch


def to_device(values, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Host values (a list or tuple, nested or not) as a tensor on `device`. On CUDA the copy is queued behind the
    GPU's work (pinned memory, non_blocking) instead of waiting for it to finish, so that preparing a step never
    waits for the one before."""
    return torch.tensor(values, dtype=dtype, pin_memory=device.type == "cuda").to(device, non_blocking=True)
