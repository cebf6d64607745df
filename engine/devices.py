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
        gpu = {"index": i, "memory_allocated": 0, "memory_reserved": 0}
        if ready:
            # the nested dict as the allocator gives it: memory_allocated() and memory_reserved() each flatten
            # all of it in Python first, which took 1.8 ms a call under load and slowed /health
            stats = torch.cuda.memory_stats_as_nested_dict(i)
            if stats:  # empty until the allocator's first use on this GPU
                gpu.update(memory_allocated=stats["allocated_bytes"]["all"]["current"],
                           memory_reserved=stats["reserved_bytes"]["all"]["current"])
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
