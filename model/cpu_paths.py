"""Which product each of a model's weight matrices takes on this CPU, per row count: timed once, then cached.

No one product is fastest on every CPU: one decode row of GPT-2 124M went fastest through model/cpu_kernel.c on
this project's AVX2 EPYC, through MKL on an AMX Xeon; 8 bf16 rows through the kernel on the EPYC, through oneDNN's
AMX tiles on the Xeon. So, at the first load of a model's shapes on a CPU, choose() times each candidate on the
model's own weights for every row bucket and keeps the fastest per shape:
- "kernel": model/cpu_kernel.c, up to cpu_kernel.MAX_ROWS rows;
- "onednn": oneDNN's linear with the GELU fused (torch.ops.mkldnn._linear_pointwise);
- "torch": F.linear (MKL's sgemm for fp32; oneDNN's matmul for bf16), then the GELU;
- "widen": for bf16 weights, F.linear on them widened to fp32 for the call. Where the CPU has no bf16 arithmetic
  oneDNN emulates it: a 32-token bf16 prefill of GPT-2 124M ran at 108 tok/s on the EPYC, fp32's at 390, and
  widening the weights once per call costs less than the difference.
A timing pass reads the weights as a decode step does (time_products says how). GPT-2 124M took 0.7 s to time on
the EPYC.

The choice is kept in one JSON file beside the compiled kernel, keyed by what makes it differ (the CPU, the
thread count, torch and the kernel's source) and then by dtype and shape; a lock file lets the workers of one
server time once. CPU_MATMUL=kernel|onednn|torch forces one product (the kernel still only where it applies);
CPU_MATMUL=panels forces model/panels.py's layout for a served fp32 or bf16 model, and leaves the rest to
`auto`.
"""
from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn import functional as F

from . import cpu_kernel

BUCKETS = (1, 2, 4, 8, 16, 32, 64)  # rows timed; a row count takes the first bucket at or above it, else the last
SLICE_BYTES = 8 << 20  # of a shape met past the budget of a timing pass
REPEATS = 2  # rounds of timed passes over every bucket, each product in turn; the fastest counts
ONE_ROW_KEY = "float32 one row, weight rows one after another"  # time_one_row's choice in the cache
ONE_ROW_ROUNDS = 6
log = logging.getLogger(__name__)
_onednn_linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None

Product = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", "str | None"], "torch.Tensor | None"]


def _kernel(x, weight, bias, gelu):
    return cpu_kernel.linear(x, weight, bias, gelu)  # None: too many rows, a view, or no compiler


def _onednn(x, weight, bias, gelu):
    if _onednn_linear is None or not torch._C._get_mkldnn_enabled():
        return None
    return _onednn_linear(x, weight, bias, "none" if gelu is None else "gelu", [], gelu or "")


def _torch(x, weight, bias, gelu):
    y = F.linear(x, weight, bias)
    return y if gelu is None else F.gelu(y, approximate=gelu)


def _widen(x, weight, bias, gelu):
    if weight.dtype != torch.bfloat16:
        return None
    return _torch(x.float(), weight.float(), None if bias is None else bias.float(), gelu).to(x.dtype)


PRODUCTS: dict[str, Product] = {"kernel": _kernel, "onednn": _onednn, "torch": _torch, "widen": _widen}
# what a layer no choice was made for takes (a model built in a script, not loaded): the kernel where it applies
DEFAULT = tuple("kernel" if rows <= cpu_kernel.MAX_ROWS else "torch" for rows in BUCKETS)


def product(x: torch.Tensor, layer: nn.Linear, gelu: str | None = None) -> torch.Tensor:
    """gelu(layer(x)) (gelu: nn.GELU's `approximate`, or None for none) through the product chosen for the layer's
    shape and x's row count; PyTorch's own where the chosen one declines."""
    paths = layer.__dict__.get("cpu_paths", DEFAULT)
    rows = x.numel() // x.shape[-1]
    y = PRODUCTS[paths[min(bisect.bisect_left(BUCKETS, rows), len(BUCKETS) - 1)]](x, layer.weight, layer.bias, gelu)
    return y if y is not None else _torch(x, layer.weight, layer.bias, gelu)


def choose(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """Give each nn.Linear of `model` (on the CPU, inference) its products per row bucket: CPU_MATMUL's, or the
    cached choice for its dtype and shape, or one timed now and cached. Returns the choice per shape. Under
    `auto`, the kernel's reading order for one fp32 row is chosen (time_one_row) and cached the same way."""
    layers = [m for m in model.modules() if type(m) is nn.Linear]
    by_shape: dict[str, list[nn.Linear]] = {}
    for layer in layers:
        by_shape.setdefault(shape_key(layer.weight), []).append(layer)
    forced = os.environ.get("CPU_MATMUL", "auto")
    if forced not in ("auto", "panels"):
        if forced not in PRODUCTS:
            raise ValueError(f"CPU_MATMUL must be auto, panels, {', '.join(PRODUCTS)}; got {forced!r}")
        choice = {shape: _forced(group, forced) for shape, group in by_shape.items()}
    else:
        fp32 = [layer for layer in layers if layer.weight.dtype == torch.float32]
        if fp32 and cpu_kernel.has_one_row_orders():  # set before the products' one-row passes are timed
            stream = cached([ONE_ROW_KEY], lambda _: {ONE_ROW_KEY: time_one_row(fp32)})[ONE_ROW_KEY]
            cpu_kernel.set_one_row_stream(stream)
        choice = _cached_or_timed(layers)
    for shape, group in by_shape.items():
        for layer in group:
            layer.cpu_paths = choice[shape]
    return choice


@torch.inference_mode()
def _forced(group: list[nn.Linear], name: str) -> tuple[str, ...]:
    """`name` for each bucket where it applies to the group's shape, PyTorch's product elsewhere."""
    w, b = _slice(group[0].weight, group[0].bias)
    return tuple(name if name in _usable(torch.zeros(rows, w.shape[1], dtype=w.dtype), w, b) else "torch"
                 for rows in BUCKETS)


def shape_key(weight: torch.Tensor) -> str:
    return f"{str(weight.dtype).removeprefix('torch.')} {weight.shape[0]}x{weight.shape[1]}"


def machine_key() -> str:
    """What a choice depends on besides the shape: the CPU, the threads, torch, the kernel's source, the
    candidates and the buckets (a choice is one product per bucket)."""
    try:
        cpu = cpu_kernel.cpu_signature()
    except OSError:  # no /proc/cpuinfo
        cpu = platform.processor().encode()
    parts = [cpu, str(torch.get_num_threads()).encode(), torch.__version__.encode(),
             cpu_kernel.source_bytes(), os.environ.get("CPU_KERNEL", "1").encode(), ",".join(PRODUCTS).encode(),
             repr(BUCKETS).encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def cache_file() -> Path:
    return cpu_kernel.cache_dir() / "cpu_paths.json"


def _cached_or_timed(layers: list[nn.Linear]) -> dict[str, tuple[str, ...]]:
    shapes = list(dict.fromkeys(shape_key(layer.weight) for layer in layers))
    known = cached(shapes, lambda missing: time_products([m for m in layers if shape_key(m.weight) in missing]))
    return {shape: tuple(paths) for shape, paths in known.items()}


def cached(keys: list[str], measure: Callable[[list[str]], dict]) -> dict:
    """The value of each key in this machine's entry of the cache file; those it lacks are measured (measure(missing)
    returns them by key) and stored. A lock file lets the workers of one server measure once."""
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "a")
    except OSError as e:  # an unwritable cache: time for this process only
        log.warning("cannot cache the CPU timings (%s); measuring them for this process", e)
        lock = None
    with lock or contextlib.nullcontext():
        if lock is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # one worker measures, the others wait and read it
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        known = stored.setdefault(machine_key(), {})
        missing = [key for key in keys if key not in known]
        if missing:
            known.update(measure(missing))
            with contextlib.suppress(OSError):
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(stored, indent=1))
                os.replace(tmp, path)
    return {key: known[key] for key in keys}


@torch.inference_mode()
def time_products(layers: list[nn.Linear]) -> dict[str, list[str]]:
    """The fastest product per row bucket for each shape of `layers` (in forward order), timed in passes that read
    memory as a decode step does: whole layers while twice the last-level cache lasts (a step streams the whole
    model, so no matrix is still cached when its turn comes again), then a slice of each shape not yet met."""
    cpu_kernel.library()  # built (once per CPU) before the clock starts
    started = time.perf_counter()
    shapes = list(dict.fromkeys(shape_key(layer.weight) for layer in layers))
    choice: dict[str, list[str]] = {shape: [] for shape in shapes}
    report = []
    passes = []
    for rows in BUCKETS:
        # past the kernel's rows a product is compute-bound: a slice of each shape, cached or not, times the same
        operands = timing_operands(layers, 2 * last_level_cache() if rows <= cpu_kernel.MAX_ROWS else 0)
        passes.append((operands, {w.shape[1]: torch.randn(rows, w.shape[1], dtype=w.dtype) for _, w, _ in operands}))
    for rows, times in zip(BUCKETS, _time(passes)):
        for shape in shapes:
            ranked = sorted((t[shape], name) for name, t in times.items() if shape in t)
            choice[shape].append(ranked[0][1] if ranked else "torch")
            report.append(f"{shape} rows {rows}: " + ", ".join(f"{name} {t * 1e3:.2f}" for t, name in ranked))
    log.info("CPU products timed in %.2f s (ms per pass, fastest first): %s", time.perf_counter() - started,
             "; ".join(report))
    return choice


def fastest(groups: list[dict], rounds: int) -> dict:
    """Seconds in the fastest of `rounds` calls of each function in `groups` (dicts of key: function). A round calls
    every group's functions, a group's in reverse order every other round, so that a burst of load on a shared
    machine spoils one sample of several functions, not every sample of one."""
    best: dict = {}
    for round_ in range(rounds):
        for group in groups:
            for key, run in list(group.items())[::1 if round_ % 2 == 0 else -1]:
                start = time.perf_counter()
                run()
                best[key] = min(best.get(key, float("inf")), time.perf_counter() - start)
    return best


@torch.inference_mode()
def time_one_row(layers: list[nn.Linear]) -> bool:
    """Whether the kernel's fp32 products of one row ran faster reading each weight row after another
    (cpu_kernel.c's dot8_one_row_stream) than eight side by side (dot8_one_row): the fastest of ONE_ROW_ROUNDS
    passes each over whole layers while four times the last-level cache lasts (as a decode step meets them: from
    memory). Up to 15% faster on a Zen 5 EPYC, 4-6% slower to no different on a Sapphire Rapids Xeon
    (bench/results/cpu-zen5-2026-12-01-s16/)."""
    operands = timing_operands(layers, 4 * last_level_cache())
    xs = {w.shape[1]: torch.randn(1, w.shape[1]) for _, w, _ in operands}

    def one_pass(stream: bool) -> Callable[[], None]:
        def run() -> None:
            cpu_kernel.set_one_row_stream(stream)
            for _, w, b in operands:
                cpu_kernel.linear(xs[w.shape[1]], w, b)
        return run

    best = fastest([{False: one_pass(False), True: one_pass(True)}], ONE_ROW_ROUNDS)
    log.info("CPU one-row products timed (ms per pass): rows side by side %.2f, one after another %.2f",
             best[False] * 1e3, best[True] * 1e3)
    return best[True] < best[False]


def last_level_cache() -> int:
    """Bytes of the CPU's largest cache (sysfs), or 32 MiB where it cannot be read."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        with contextlib.suppress(OSError, ValueError):
            text = f.read_text().strip()
            sizes.append(int(text.rstrip("KMG")) << {"K": 10, "M": 20, "G": 30}.get(text[-1], 0))
    return max(sizes, default=32 << 20)


Operand = tuple[str, torch.Tensor, "torch.Tensor | None"]  # shape key, weight, bias


def timing_operands(layers: list[nn.Linear], budget: int) -> list[Operand]:
    """(shape, weight, bias) of whole layers while `budget` bytes last, then of a slice of each shape not yet met."""
    operands, seen = [], set()
    for layer in layers:
        shape, w, b = shape_key(layer.weight), layer.weight, layer.bias
        if budget >= w.numel() * w.element_size():
            budget -= w.numel() * w.element_size()
        elif shape in seen:
            continue
        else:
            w, b = _slice(w, b)
        operands.append((shape, w, b))
        seen.add(shape)
    return operands


def _slice(w: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first output rows of a weight (and its bias), about SLICE_BYTES of them."""
    n = min(w.shape[0], max(8, SLICE_BYTES // (w.shape[1] * w.element_size())))
    return w[:n], None if b is None else b[:n]


def _time(passes: list[tuple[list[Operand], dict[int, torch.Tensor]]]) -> list[dict[str, dict[str, float]]]:
    """Per bucket's pass (operands, and the rows of x for each width), per product, per shape: seconds in the
    fastest of REPEATS. Each round makes every bucket's pass with every product in turn (as cpu_step.time_steps
    does, so that a burst of load spoils one sample of several buckets, not all of one). A product that does not
    apply to a shape (tried once first, which also sets up oneDNN's primitives) is left out for it. Without the
    GELU, which adds the same to each."""
    applies, bests = [], []
    for operands, xs in passes:
        first = {}
        for shape, w, b in operands:
            first.setdefault(shape, (w, b))
        applies.append({shape: _usable(xs[w.shape[1]], w, b) for shape, (w, b) in first.items()})
        bests.append({name: {} for name in PRODUCTS})
    for _ in range(REPEATS):
        for (operands, xs), usable, best in zip(passes, applies, bests):
            for name, fn in PRODUCTS.items():
                spent = {shape: 0.0 for shape in usable if name in usable[shape]}
                for shape, w, b in operands:
                    if shape in spent:
                        x = xs[w.shape[1]]
                        start = time.perf_counter()
                        fn(x, w, b, None)
                        spent[shape] += time.perf_counter() - start
                for shape, t in spent.items():
                    best[name][shape] = min(best[name].get(shape, float("inf")), t)
    return bests


def _usable(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> set[str]:
    """The products that take x and this weight: not one that declines (the kernel past MAX_ROWS rows) or fails
    (oneDNN in bf16 on a CPU without AVX-512)."""
    usable = set()
    for name, fn in PRODUCTS.items():
        try:
            if fn(x, weight, bias, None) is not None:
                usable.add(name)
        except RuntimeError:
            continue
    return usable
