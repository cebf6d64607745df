"""Products of a few rows by an fp32 or bf16 weight matrix on the CPU, through a small C kernel built on first use.

A decode step multiplies one row per sequence by every weight matrix; its time should be that of reading the
weights once. On this project's 2-core EPYC, oneDNN's one-row product streams 16-20 GB/s of the ~25 the cores
reach and pays a fixed ~50 us a call; cpu_kernel.c, a plain blocked dot product, streams 20-27 GB/s. The 49
products of a GPT-2 124M decode step, timed in one process: rows 1, 20-24 ms against oneDNN's 28; rows 2,
31 against 56; rows 16, 56 against 66; rows 32, 96 both (for a Zen 5, see MAX_ROWS). Other CPUs
rank them otherwise: model/cpu_paths.py times this kernel against oneDNN and MKL on each CPU and picks per shape
and row count; past MAX_ROWS rows the kernel declines.

The source is compiled with the system C compiler (`CC`, default `cc`) into a per-user cache, keyed by the
source, the flags and the CPU; with no compiler, off Linux, or with CPU_KERNEL=0, linear() returns None and the
caller uses another product: same results up to summation order.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import posix  # the calls underneath os, which gevent does not patch: see _compile
import sys
import tempfile
from pathlib import Path

import torch

# a 32-token prefill's 48 block products on a Zen 5 EPYC: kernel 17.6 ms, oneDNN 20.8; at 64 rows oneDNN is ahead
MAX_ROWS = 32
SOURCES = [Path(__file__).with_name(name) for name in ("cpu_kernel.c", "cpu_panels.c", "cpu_step.c")]  # + the .h
HEADER = Path(__file__).with_name("cpu_kernel.h")
# -march=native: AVX2/FMA (or whatever the CPU has) for the vectorised sums; the cache key holds the CPU.
# -fopenmp links libgomp.so.1, which resolves to the copy torch has loaded: one thread pool, not two.
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
ACTIVATIONS = {None: 0, "none": 1, "tanh": 2}  # nn.GELU's approximate= values; None is no activation
KERNELS = {torch.float32: "skinny_linear", torch.bfloat16: "skinny_linear_bf16"}  # by the weights' dtype
BF16_PAIRS = "skinny_linear_bf16_dp"  # bf16 weights and activations multiplied by AVX512-BF16, where there is one
PANELS = {torch.float32: "skinny_linear_panels", torch.bfloat16: "skinny_linear_panels_bf16"}  # model/panels.py's
# layout, by the weights' dtype, where the CPU has AVX-512 or AVX2; bf16 x by bf16 panels with AVX512-BF16:
PANEL_PAIRS = "skinny_linear_panels_bf16_pairs"
log = logging.getLogger(__name__)


@functools.cache
def cpu_signature() -> bytes:
    """What -march=native compiles for: the first CPU's model and features (x86 and Arm field names)."""
    with open("/proc/cpuinfo", "rb") as f:
        first_cpu = f.read().split(b"\n\n", 1)[0]
    fields = (b"model name", b"flags", b"CPU implementer", b"CPU part", b"Features")
    return b"\n".join(line for line in first_cpu.splitlines() if line.startswith(fields))


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nanogpt-serve"


class BuildError(OSError):
    """The compiler did not produce the kernel; the message holds what it printed."""


def _compile(command: list[str]) -> None:
    """Run the compiler and wait for it, from any thread, under any event loop.

    Not `subprocess`, nor os.posix_spawnp: gunicorn's gevent worker patches both to watch the child from the
    main thread's loop, which fails on the threadpool thread that loads models (every request of a cold server
    got a 500). The `posix` module underneath `os` is never patched: a spawn and a blocking waitpid there need
    no loop. If a loop reaped the child first (ChildProcessError), loading the output decides.
    """
    with tempfile.TemporaryFile() as stderr:
        actions = [(os.POSIX_SPAWN_DUP2, stderr.fileno(), 2), (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
        pid = posix.posix_spawnp(command[0], command, os.environ, file_actions=actions)
        try:
            status = os.waitstatus_to_exitcode(posix.waitpid(pid, 0)[1])
        except ChildProcessError:
            status = 0
        if status != 0:
            stderr.seek(0)
            raise BuildError(f"{command[0]} exited with {status}: {stderr.read().decode(errors='replace')}")


def source_bytes() -> bytes:
    """The kernel's whole source, which names its build in the cache."""
    return b"\0".join(path.read_bytes() for path in [*SOURCES, HEADER])


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernel, building it if the cache lacks it; None where it cannot be had (logged once)."""
    if os.environ.get("CPU_KERNEL", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    compiler = os.environ.get("CC", "cc")
    partial = None
    try:
        key = hashlib.sha256(b"\0".join([source_bytes(), compiler.encode(), " ".join(FLAGS).encode(), cpu_signature()]))
        path = cache_dir() / f"cpu_kernel-{key.hexdigest()[:16]}.so"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")  # workers may build at once; each renames its own
            _compile([compiler, *FLAGS, *map(str, SOURCES), "-lm", "-o", str(partial)])
            os.replace(partial, path)
        return load(path)
    except Exception as e:  # no compiler, a failed build, an unwritable cache: decode without the kernel
        log.warning("CPU kernel unavailable, decoding through oneDNN: %s", e)
        return None
    finally:
        if partial is not None and partial.exists():
            partial.unlink()


def load(path: Path) -> ctypes.CDLL:
    """A build of the kernel's sources, its products' argument types declared."""
    lib = ctypes.CDLL(str(path))
    for name in (*KERNELS.values(), BF16_PAIRS, *PANELS.values(), PANEL_PAIRS):
        if hasattr(lib, name):  # BF16_PAIRS and PANEL_PAIRS where the CPU has AVX512-BF16, PANELS AVX-512
            getattr(lib, name).argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_long] * 3 + [ctypes.c_int] * 2
            getattr(lib, name).restype = None
    return lib


def has_one_row_orders() -> bool:
    """Whether the kernel has two reading orders for one fp32 row of x to choose from (built with AVX-512)."""
    lib = library()
    return lib is not None and hasattr(lib, "set_one_row_stream")


def set_one_row_stream(on: bool) -> None:
    """Which reading order one fp32 row of x takes in the kernel, for this process (cpu_kernel.c's
    `one_row_stream`: cpu_paths chooses it per machine). No-op where the kernel has one order."""
    if has_one_row_orders():
        library().set_one_row_stream(int(on))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           gelu: str | None = None) -> torch.Tensor | None:
    """act(x @ weight.T + bias) for CPU tensors of at most MAX_ROWS rows, fp32 or bf16 (x, weight and bias of one
    dtype; bf16 is summed in fp32 and rounded once, as oneDNN's bf16 product is); None when this kernel does not
    apply (too many rows, a non-contiguous weight, no kernel), so the caller takes its general path.

    gelu is nn.GELU's `approximate` ("none" or "tanh") to apply GELU to the output, or None for no activation.
    """
    out_features, in_features = weight.shape
    rows = x.numel() // in_features
    kernel_name = KERNELS.get(weight.dtype)
    if rows > MAX_ROWS or kernel_name is None or not weight.is_contiguous():
        return None
    lib = library()
    if lib is None:
        return None
    if weight.dtype == torch.bfloat16 and x.dtype == torch.bfloat16 and hasattr(lib, BF16_PAIRS):
        kernel_name, xs = BF16_PAIRS, x.contiguous()
    else:
        xs = x.float().contiguous()  # bf16 activations: a few rows, widened here rather than per weight
    b32 = None if bias is None else bias.float()
    y = torch.empty(*x.shape[:-1], out_features)
    getattr(lib, kernel_name)(xs.data_ptr(), weight.data_ptr(), None if b32 is None else b32.data_ptr(),
                              y.data_ptr(), rows, in_features, out_features, ACTIVATIONS[gelu],
                              torch.get_num_threads())
    return y.to(x.dtype)


def has_panels() -> bool:
    """Whether the kernel multiplies weights held in panels (built with AVX-512, or AVX2 and FMA)."""
    lib = library()
    return lib is not None and hasattr(lib, PANELS[torch.float32])


def panel_linear(x: torch.Tensor, panels: torch.Tensor, bias: torch.Tensor | None, out_features: int,
                 gelu: str | None = None) -> torch.Tensor:
    """act(x @ W.T + bias) for any number of rows of x, W held in panels (model/panels.py) of fp32 or bf16, summed in
    fp32 and returned in x's dtype; bias fp32 or None; gelu as linear's. Only where has_panels(). bf16 x by bf16
    panels are multiplied as bf16 pairs where the CPU can (as oneDNN's bf16 product does), else x in fp32."""
    in_features = panels.shape[1] * panels.shape[3]
    lib = library()
    if panels.dtype == x.dtype == torch.bfloat16 and hasattr(lib, PANEL_PAIRS):
        kernel_name, xs = PANEL_PAIRS, x.contiguous()
    else:
        kernel_name, xs = PANELS[panels.dtype], x.float().contiguous()
    y = torch.empty(*x.shape[:-1], out_features)
    getattr(lib, kernel_name)(xs.data_ptr(), panels.data_ptr(), None if bias is None else bias.data_ptr(),
                              y.data_ptr(), xs.numel() // in_features, in_features, out_features, ACTIVATIONS[gelu],
                              torch.get_num_threads())
    return y.to(x.dtype)
