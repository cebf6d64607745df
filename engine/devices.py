"""What the GPUs hold, for /health and the annotation service, and giving freed memory back to the driver."""
from __future__ import annotations

import torch


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


def free_cuda(other_cuda_models: bool) -> None:
    """Give freed blocks back to the driver, so nvidia-smi sees the memory return."""
    if not other_cuda_models:
        # the exited engine thread leaves its cuBLAS workspace (32 MiB on an H200) behind; clearing it is only
        # safe when no other engine thread may be inside a cuBLAS call, i.e. when no CUDA model is left
        clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear is not None:
            clear()
    torch.cuda.empty_cache()
