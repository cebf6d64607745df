"""Place a checkpoint's model on a device: device and dtype chosen automatically or by the user."""
from __future__ import annotations

import ctypes
import gc
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from . import cpu_kernel, cpu_paths
from .checkpoint import (HF_CONV1D_WEIGHTS, Checkpoint, CheckpointError, expected_shapes, parameter_count,
                         read_checkpoint)
from .config import GPTConfig
from .gpt import GPT
from .kv_cache import KVCache
from .panels import serves_from_panels, to_panels
from .settings import DTYPES
from .tokenizer import Tokenizer

# The estimate counts weights and KV cache only; activations, the allocator's slack and the CPU kernel's
# buffers come on top, so a model must fit in available memory with this factor applied to the estimate.
MEMORY_HEADROOM = 1.1
INT8_ROW_BYTES = 12  # per quantized row: fp32 scale and int64 zero point (model/quantize.py weight_bytes)


class ModelTooLarge(CheckpointError):
    """The weights plus KV cache would not fit in the device's available memory; needed and available in bytes."""

    def __init__(self, path: str | Path, problem: str, needed: int, available: int):
        super().__init__(path, problem)
        self.needed = needed
        self.available = available


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


def resolve_kv_dtype(name: str, dtype: torch.dtype) -> torch.dtype:
    """The KV cache's dtype: 'auto' is the model's (what it computes in; float32 for an int8 model)."""
    if name == "auto":
        return dtype
    if name not in DTYPES:
        raise ValueError(f"unknown KV cache dtype {name!r}; use auto or one of {', '.join(DTYPES)}")
    return DTYPES[name]


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    checkpoint: Checkpoint  # its state_dict is emptied once the weights are placed
    device: torch.device
    dtype: torch.dtype
    kv_dtype: torch.dtype | None = None  # the KV cache's; None: dtype
    parameters: int | None = None  # the checkpoint's (int8 or panel layers hold theirs as other tensors); None: count

    def __post_init__(self):
        self.kv_dtype = self.kv_dtype or self.dtype
        self.parameters = self.parameters or self.model.num_params(non_embedding=False)

    @property
    def config(self):
        return self.checkpoint.config


def load_model(path: str | Path, device: str = "auto", dtype: str = "auto", gelu: str | None = None,
               quantize: str = "none", kv_slots: int = 0, kv_cache_mb: int | None = None,
               kv_dtype: str = "auto", panels: bool = False) -> LoadedModel:
    """Read a checkpoint and move its weights to the device; raises CheckpointError for a bad file, and its
    subclass ModelTooLarge when the weights plus the KV cache the caller will allocate (kv_slots sequences,
    lowered to what kv_cache_mb holds, as KVCache.slots_within rules) would not fit in the device's memory.
    panels: as place_model's."""
    ck = read_checkpoint(path, gelu=gelu)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    kv_dt = resolve_kv_dtype(kv_dtype, dt)
    sd = ck.state_dict
    head, wte = sd["lm_head.weight"], sd["transformer.wte.weight"]
    tied = head is wte or head.data_ptr() == wte.data_ptr() or (head.dtype == wte.dtype and torch.equal(head, wte))
    slots = KVCache.slots_within(ck.config, kv_dt, kv_slots, kv_cache_mb) if kv_slots else 0
    check_memory(ck.config, dev, dt, slots, quantize, tied=tied, path=ck.path, kv_dtype=kv_dt)
    with torch.device("meta"):
        model = GPT(ck.config)
    # assign=True adopts the (memory-mapped) tensors instead of copying them into fresh parameters
    model.load_state_dict(sd, strict=True, assign=True)
    if tied:
        model.tie_weights()
    place_model(model, dev, dt, quantize, panels)
    ck.state_dict = {}  # drop the CPU copies: on a GPU only the device weights stay alive
    return LoadedModel(model, ck.tokenizer, ck, dev, dt, kv_dt, parameter_count(ck.config, tied))


def place_model(model: GPT, device: torch.device, dtype: torch.dtype, quantize: str = "none",
                panels: bool = False) -> GPT:
    """Move the weights to the device and dtype and make them ready to decode with (in place; returns the model).
    panels: hold fp32 or bf16 weights in model/panels.py's layout where it serves on this CPU; for a model that only
    decodes, since its state_dict then loads into no GPT (the servers' models; not export or import)."""
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    for p in model.parameters():
        if not p.is_contiguous():  # Hugging Face's Conv1D weights arrive transposed; the CPU kernel declines views
            p.data = p.data.contiguous()
    if quantize != "none":
        from .quantize import quantize_model
        quantize_model(model, quantize)
        if device.type == "cpu":
            own_memory(model)
    elif device.type == "cpu" and dtype in cpu_kernel.KERNELS:
        choice = cpu_paths.choose(model)  # builds the decode kernel now rather than in the first request
        if panels and serves_from_panels(model, choice):
            to_panels(model)
            own_memory(model)
    return model


def own_memory(model: nn.Module) -> None:
    """Copy what is left of the checkpoint's tensors (position embedding, layer norms) out of it.

    A checkpoint is read memory-mapped, as one storage for all its tensors: one small survivor keeps the whole
    file mapped, and every page quantizing read stays resident (the fp32 weights, 0.5 GB for GPT-2 124M, beside
    their int8 copies). Then the memory freed while quantizing goes back to the system. The survivors are
    parameters: the int8 and panel layers hold tensors of their own (their biases copied), not copied again."""
    for t in model.parameters():
        if t.device.type == "cpu":
            t.data = t.data.clone()
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim); nothing elsewhere.

    The process's own symbols (dlopen of NULL), which hold the C library's: ctypes.util.find_library runs
    ldconfig in a subprocess, which gunicorn's gevent worker patches to fail on the thread that loads models
    (every first request of an int8 server got a 500)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): nothing to trim
        pass


def weight_bytes(config: GPTConfig, dtype: torch.dtype, quantize: str = "none", tied: bool = True) -> int:
    """Bytes the weights of GPT(config) take once placed, worked out from the config alone.

    int8 (model/quantize.py) holds every Linear weight, lm_head included, as one byte per weight plus a scale
    and zero point per row; a tied embedding keeps its own int8 rows and scales (exact on CPU, where the packed
    head is a copy; 1 byte per weight too many on CUDA, where the two share)."""
    int8 = quantize == "int8"
    total = 0
    for name, shape in expected_shapes(config).items():
        n = math.prod(shape)
        if name == "lm_head.weight" and tied and not int8:
            continue  # the token embedding's matrix
        if int8 and (name.endswith(HF_CONV1D_WEIGHTS) or name == "lm_head.weight"):
            total += n + INT8_ROW_BYTES * shape[0]
        elif int8 and tied and name == "transformer.wte.weight":
            total += n + dtype.itemsize * shape[0]
        else:
            total += n * dtype.itemsize
    return total


def memory_needed(config: GPTConfig, dtype: torch.dtype, kv_slots: int = 0, quantize: str = "none",
                  tied: bool = True, kv_dtype: torch.dtype | None = None) -> int:
    """Peak bytes of loading and serving: the quantized weights plus kv_slots sequences of block_size tokens of
    KV cache (in kv_dtype, else dtype), or the weights in dtype if more (they are placed in dtype, then quantized
    layer by layer)."""
    kv = kv_slots * KVCache.bytes_per_slot(config, config.block_size, kv_dtype or dtype)
    return max(weight_bytes(config, dtype, "none", tied), weight_bytes(config, dtype, quantize, tied) + kv)


def check_memory(config: GPTConfig, device: torch.device, dtype: torch.dtype, kv_slots: int = 0,
                 quantize: str = "none", *, tied: bool = True, path: str | Path = "model",
                 kv_dtype: torch.dtype | None = None) -> None:
    """Raise ModelTooLarge unless memory_needed(...) times MEMORY_HEADROOM fits in available_memory(device).
    Allocates nothing; where the free memory cannot be told (MPS, other backends) it does not refuse."""
    available = available_memory(device)
    if available is None:
        return
    needed = memory_needed(config, dtype, kv_slots, quantize, tied, kv_dtype)
    if needed * MEMORY_HEADROOM <= available:
        return
    dtype_name = str(dtype).removeprefix("torch.")
    weights = weight_bytes(config, dtype, quantize, tied)
    kv = kv_slots * KVCache.bytes_per_slot(config, config.block_size, kv_dtype or dtype)
    if weights + kv < needed:  # int8: the peak is before quantizing
        parts = f"{_size(needed)} of {dtype_name} weights, placed before they are quantized"
    else:
        parts = (f"{_size(weights)} of {'int8' if quantize == 'int8' else dtype_name} weights + {_size(kv)} of KV "
                 f"cache for {kv_slots} sequences of {config.block_size} tokens")
    raise ModelTooLarge(path, f"the model does not fit in memory: {device} has {_size(available)} available, the "
                              f"model needs {_size(needed)} ({parts}) plus {MEMORY_HEADROOM - 1:.0%} headroom",
                        needed, available)


def _size(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on the device; None where that cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # memory torch's caching allocator holds for no tensor (a model unloaded earlier) is this process's too
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "cpu":
        known = [n for n in (_meminfo_available(), _cgroup_available()) if n is not None]
        return min(known) if known else None
    return None


def _meminfo_available() -> int | None:
    """The kernel's MemAvailable (free memory plus reclaimable page cache), Linux only."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


PROC_CGROUP = "/proc/self/cgroup"  # this process's cgroups, one line per hierarchy
# (controller mount, limit file, usage file, memory.stat key of reclaimable page cache) for cgroup v2 and v1
_CGROUPS = (("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"))


def _cgroup_available() -> int | None:
    """The least room left under the memory limit of this process's cgroup or any cgroup above it (a container's
    limit, which MemAvailable does not see); None without a limit. Inactive page cache (the memory-mapped
    checkpoint, say) is reclaimable, so it does not count as used."""
    try:
        with open(PROC_CGROUP) as f:
            lines = [parts for parts in (line.rstrip("\n").split(":", 2) for line in f) if len(parts) == 3]
    except OSError:
        return None
    room = None
    for mount, limit_file, usage_file, cache_key in _CGROUPS:
        v2 = limit_file == "memory.max"
        own = next((p for _, controllers, p in lines
                    if (controllers == "" if v2 else "memory" in controllers.split(","))), None)
        if own is None:
            continue
        directory = Path(mount) / own.lstrip("/")
        for d in [directory, *directory.parents]:
            if not d.is_relative_to(mount):
                break
            try:
                limit = (d / limit_file).read_text().strip()
                if limit == "max" or int(limit) >= 1 << 62:  # v1 writes "no limit" as a page-rounded 2**63
                    continue
                stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
                used = int((d / usage_file).read_text()) - int(stat.get(cache_key, 0))
            except (OSError, ValueError):
                continue
            room = min(room, int(limit) - used) if room is not None else int(limit) - used
    return room
