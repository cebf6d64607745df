"""A CPU decode step of a GPT in one call into model/cpu_step.c (`decode_step`), for up to MAX_ROWS rows; and a
prefill of up to PREFILL_ROWS tokens, its rows runs of one sequence's positions (FusedDecode.prefill).

Through PyTorch, a decode step of GPT-2 124M makes about 300 calls: 49 products, 25 layer norms, 12 attentions
and their views, slices and cache writes. On 2 cores the products read the weights in ~19 ms, and entering the
other calls costs 3-5 ms more, which is what kept batch-1 decoding behind llama.cpp's (PERFORMANCE.md). The C
step runs the same arithmetic in one parallel region: the same products (in fp32, the kernel's sums in its
order), layer norms and attention by their definitions in fp32. A bf16 model (DTYPE=bfloat16) keeps its matrices,
embeddings and keys and values in bf16 and computes in fp32 between them, where PyTorch's step rounds every
activation to bf16: its tokens are nearer fp32's than PyTorch's bf16 step's are. Any model's keys and values may
be kept in bf16 instead (KV_CACHE_DTYPE=bfloat16), which halves what attention reads.

It applies to a GPT on the CPU whose products are plain nn.Linear layers in fp32 or bf16, or model/quantize.py's
int8 layers, with the kernel built. An int8 step multiplies int8 pairs, as llama.cpp's q8_0 does: each activation
row is quantized per block of 32 (cpu_kernel.c's product_int8). Its weights are fbgemm's, unpacked once into
tiles of eight rows (quantize.tiles), a second copy kept by each layer; its head reads the token embedding's
tiles.
Whether it is the faster step depends on the CPU and the row count: on the AMX Xeon, 16 fp32 rows went faster
through PyTorch (MKL's and oneDNN's products beat the kernel's there by more than the calls cost), and 1 row
1.2x faster through the C step. So, as cpu_paths does for each product, the first load of a model's shape on a
CPU times both steps per row bucket and caches which won (cpu_paths.json), and both prefills of PREFILL_BUCKETS rows.
CPU_MATMUL=kernel or panels takes the C step at every row count, another CPU_MATMUL never. A step's rows are the KV
cache's slots 0..rows-1, as the Decoder keeps them.
"""
from __future__ import annotations

import bisect
import ctypes
import functools
import logging
import os
import time
from collections.abc import Callable

import torch
import torch.nn as nn

from . import cpu_kernel, cpu_paths
from .gpt import GPT
from .kv_cache import KVCache
from .panels import PanelEmbedding, PanelLinear, rounded_to_bf16
from .quantize import Int8Embedding, Int8Linear

BUCKETS = tuple(rows for rows in cpu_paths.BUCKETS if rows <= cpu_kernel.MAX_ROWS)
REPEATS = 3  # rounds over the buckets, each timing both steps once; the fastest counts
# the longest prefill the C step may take, where timed faster: its attention, row by row, grows as the square of the
# rows, and lost to PyTorch's at 512 rows on the Zen 3 EPYC (PERFORMANCE.md)
PREFILL_ROWS = 128
PREFILL_BUCKETS = (cpu_kernel.MAX_ROWS, PREFILL_ROWS)  # prefills timed at these many rows, each for those up to it
log = logging.getLogger(__name__)
# cpu_step.c's DT_FP32, DT_BF16, DT_INT8, DT_PANELS, DT_PANELS_BF16
MATRICES = {"float32": 0, "bfloat16": 1, "int8": 2, "float32 panels": 3, "bfloat16 panels": 4}
BLOCK_FIELDS = ("ln_1_w", "ln_1_b", "c_attn_w", "c_attn_s", "c_attn_b", "attn_proj_w", "attn_proj_s", "attn_proj_b",
                "ln_2_w", "ln_2_b", "c_fc_w", "c_fc_s", "c_fc_b", "mlp_proj_w", "mlp_proj_s", "mlp_proj_b")


class BlockWeights(ctypes.Structure):  # cpu_step.c's BlockWeights
    _fields_ = [(name, ctypes.c_void_p) for name in BLOCK_FIELDS]


class Gpt(ctypes.Structure):  # cpu_step.c's Gpt
    _fields_ = [*((name, ctypes.c_long) for name in ("n_layer", "n_head", "n_embd", "vocab", "slots", "max_len")),
                ("eps", ctypes.c_float), ("act", ctypes.c_int), ("matrices", ctypes.c_int), ("kv_bf16", ctypes.c_int),
                *((name, ctypes.c_void_p) for name in ("wte", "wpe", "ln_f_w", "ln_f_b", "lm_head", "lm_head_s", "kv")),
                ("blocks", ctypes.POINTER(BlockWeights)), ("head_bf16", ctypes.c_void_p),
                *((name, ctypes.c_double) for name in ("head_error", "head_norm", "head_norm_bf16"))]


def matrices_of(model: GPT) -> str | None:
    """How the model's products hold their weights: "float32", "bfloat16" (nn.Linear), "int8" (model/quantize.py's
    CPU layers), "float32 panels" or "bfloat16 panels" (model/panels.py's); None for a mix, or for layers the C step
    does not know."""
    products = model.products()
    t = model.transformer
    if all(isinstance(m, Int8Linear) and m.cpu for m in products) and isinstance(t.wte, Int8Embedding):
        return "int8"
    if all(isinstance(m, PanelLinear) for m in products) and isinstance(t.wte, PanelEmbedding):
        dtypes, layout = {m.panels.dtype for m in products}, " panels"
    else:
        dtypes, layout = {m.weight.dtype if type(m) is nn.Linear else None for m in products}, ""
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    return f"{str(dtype).removeprefix('torch.')}{layout}" if dtype in (torch.float32, torch.bfloat16) else None


class FusedDecode:
    """`run(inputs)`: the logits (rows, vocab) of one decode step for the rows of `inputs`, (rows, 2) int64 of
    (token, position), writing each row's key and value into its slot of the cache, as forward_cached does.

    A model in fp32 panels also keeps its head in bf16 (GPT-2's: 77 MB more), for the steps whose logits only give
    each row its argmax: their head reads half the bytes, and the argmax stays the fp32 head's (model/cpu_step.c's
    head_for_argmax says why). `argmax_head`, per bucket of rows, is the head such a step takes, the one timed
    fastest here: "fp32", "bf16" (vdpbf16ps, or bf16 widened to fp32) or "amx" (bf16 by AMX tiles)."""

    def __init__(self, model: GPT, cache: KVCache, step, eps: float, faster: tuple[bool, ...] = (True,) * len(BUCKETS),
                 argmax_head: tuple[str, ...] | None = None,
                 prefills: tuple[bool, ...] = (True,) * len(PREFILL_BUCKETS)):
        c = model.config
        t = model.transformer
        kept = []  # what the pointers point into, beside the model and the cache: copies made here

        def pointer(p: torch.Tensor | None) -> int | None:
            if p is None:
                return None
            kept.append(p)
            return p.data_ptr()

        def vector(p: torch.Tensor | None) -> int | None:  # layer norms and biases: fp32 in the C step
            return pointer(None if p is None else p.float())

        def product(layer: nn.Module) -> tuple[int, int | None, int | None]:
            """(weights, scales or None, bias or None)."""
            if isinstance(layer, Int8Linear):
                laid, scales, bias = layer.c_step_weights()
                return pointer(laid), pointer(scales), vector(bias)
            return pointer(layer.panels if isinstance(layer, PanelLinear) else layer.weight), None, vector(layer.bias)

        self._blocks = (BlockWeights * c.n_layer)(*(
            BlockWeights(vector(b.ln_1.weight), vector(b.ln_1.bias), *product(b.attn.c_attn), *product(b.attn.c_proj),
                         vector(b.ln_2.weight), vector(b.ln_2.bias), *product(b.mlp.c_fc), *product(b.mlp.c_proj))
            for b in t.h))
        matrices = matrices_of(model)
        if matrices == "int8":  # the head's int8 tiles and scales are the tied token embedding's
            tokens = head = pointer(t.wte.weight_int8)
            head_scales = vector(t.wte.scale)
        elif matrices.endswith("panels"):
            tokens, head, head_scales = pointer(t.wte.panels), pointer(model.lm_head.panels), None
        else:
            tokens, head, head_scales = pointer(t.wte.weight), pointer(model.lm_head.weight), None
        rounded = None
        if matrices == "float32 panels":  # only its head has a bf16 copy to estimate from (AMX asked for only then)
            argmax_head = argmax_head or (estimating_heads(model)[0],) * len(BUCKETS)
            rounded = rounded_to_bf16(model.lm_head.panels) if set(argmax_head) != {"fp32"} else None
        self.argmax_head = argmax_head if rounded else ("fp32",) * len(BUCKETS)
        head_bf16, *bounds = rounded if rounded else (None, 0.0, 0.0, 0.0)
        self.vocab = c.vocab_size
        self._gpt = Gpt(c.n_layer, c.n_head, c.n_embd, self.vocab, cache.slots, cache.max_len, eps,
                        cpu_kernel.ACTIVATIONS[c.gelu_approximate], MATRICES[matrices],
                        cache.kv.dtype == torch.bfloat16, tokens, pointer(t.wpe.weight), vector(t.ln_f.weight),
                        vector(t.ln_f.bias), head, head_scales, cache.kv.data_ptr(), self._blocks, pointer(head_bf16),
                        *bounds)
        self._keep = (model, cache, kept)
        self._step = step
        self.faster = faster  # per bucket of rows: whether this step beat PyTorch's on this CPU
        self.prefills = prefills  # per PREFILL_BUCKETS: whether it beat PyTorch's prefill of that many rows here

    @classmethod
    def build(cls, model: GPT, cache: KVCache) -> FusedDecode | None:
        """The fused step for this model and cache, or None where it does not apply (see the module's doc)."""
        lib = cpu_kernel.library()
        c = model.config
        dtype = model.transformer.wpe.weight.dtype  # what the model computes in: fp32 for an int8 model
        matrices = matrices_of(model)
        eps = {m.eps for m in model.modules() if isinstance(m, nn.LayerNorm)}
        if (lib is None or not hasattr(lib, "decode_step") or matrices is None or len(eps) != 1
                or os.environ.get("CPU_MATMUL", "auto") not in ("auto", "kernel", "panels")
                or cache.kv.device.type != "cpu" or {dtype, cache.kv.dtype} - {torch.float32, torch.bfloat16}
                or any(p.dtype != dtype or p.device.type != "cpu" or not p.is_contiguous()
                       for p in model.parameters())):
            return None
        step = lib.decode_step
        step.argtypes = [ctypes.POINTER(Gpt), ctypes.c_void_p, *(ctypes.c_long,) * 3, ctypes.c_void_p, ctypes.c_int,
                         ctypes.c_long, ctypes.c_int]
        step.restype = ctypes.c_int
        eps = eps.pop()
        if os.environ.get("CPU_MATMUL", "auto") in ("kernel", "panels"):
            return cls(model, cache, step, eps)
        key = (f"decode step {matrices} {c.n_layer}x{c.n_embd}x{c.n_head} vocab {c.vocab_size}"
               f"{'' if c.bias else ' no bias'}")
        faster = cpu_paths.cached([key], lambda _: {key: time_steps(model, step, eps)})[key]
        if not any(faster):
            return None
        prefill_key = f"prefill of {', '.join(map(str, PREFILL_BUCKETS))} rows, {key}"
        prefills = cpu_paths.cached([prefill_key], lambda _: {prefill_key: time_prefills(model, step, eps)})[
            prefill_key]
        argmax_head = ("fp32",) * len(BUCKETS)
        if matrices == "float32 panels":
            head_key = f"argmax head, {key}"
            argmax_head = cpu_paths.cached([head_key], lambda _: {head_key: time_argmax_head(model, step, eps)})[head_key]
        return cls(model, cache, step, eps, tuple(faster), tuple(argmax_head), tuple(prefills))

    def fits(self, rows: int) -> bool:
        """Whether this step takes `rows` rows: at most MAX_ROWS, and faster than PyTorch's for that many here."""
        bucket = bisect.bisect_left(BUCKETS, rows)
        return bucket < len(BUCKETS) and self.faster[bucket]

    def fits_prefill(self, rows: int) -> bool:
        """Whether a prefill of `rows` rows (all the prompts' new tokens) goes through this step: up to PREFILL_ROWS,
        where it beat PyTorch's prefill of its bucket's rows here (and, up to MAX_ROWS, PyTorch's decode step of as
        many rows: a prefill's products are a step's)."""
        bucket = bisect.bisect_left(PREFILL_BUCKETS, rows)
        return (bucket < len(PREFILL_BUCKETS) and self.prefills[bucket]
                and (rows > cpu_kernel.MAX_ROWS or self.fits(rows)))

    def run(self, inputs: torch.Tensor, argmax_below: int = 0, head: str | None = None, first_slot: int = 0,
            run: int = 1) -> torch.Tensor:
        """fp32 logits, for a bf16 model too. inputs: the Decoder's own tokens and positions (sampled ids below
        the vocabulary, positions inside the cache), which the C step takes as they are. argmax_below: where the
        logits serve only each row's argmax over the ids below it, the logits that cannot be the largest may be
        left as estimates by the row count's head (`argmax_head`; `head` instead, to time one); 0: all exact.
        first_slot, run: row r is of the sequence in slot first_slot + r // run, and only each run's last row
        gives logits, (rows // run, vocab): a decode step's rows are slots 0..rows-1 (run 1), a prefill's runs of
        one sequence's positions (`prefill`)."""
        rows = inputs.shape[0]
        bucket = bisect.bisect_left(BUCKETS, rows // run)  # the head's rows
        head = head or (self.argmax_head[bucket] if bucket < len(BUCKETS) else "fp32")
        logits = torch.empty(rows // run, self.vocab)
        if self._step(ctypes.byref(self._gpt), inputs.data_ptr(), rows, first_slot, run, logits.data_ptr(),
                      torch.get_num_threads(), argmax_below if head != "fp32" else 0, head == "amx"):
            raise MemoryError("the CPU decode step could not allocate its buffers")
        return logits

    def prefill(self, tokens: list[list[int]], start: int, first_slot: int, argmax_below: int = 0) -> torch.Tensor:
        """The logits (len(tokens), vocab) at the last of each row of tokens, which are positions start.. of the
        sequences in slots first_slot.., their first `start` positions in the cache already: all in one C step, its
        rows the prompts' tokens; argmax_below as run's. Through PyTorch, a prefill of 32 tokens of GPT-2 in bf16
        spent a tenth of its time entering ~170 calls and converting the activations to fp32 and back around every
        product: 1.11-1.17x faster here on the Zen 3 EPYC (PERFORMANCE.md)."""
        T = len(tokens[0])
        positions = torch.arange(start, start + T).repeat(len(tokens))
        inputs = torch.stack([torch.tensor(tokens).flatten(), positions], dim=1)
        return self.run(inputs, argmax_below, first_slot=first_slot, run=T)


@functools.cache
def amx_ready() -> bool:
    """Whether the kernel was built with AMX tiles (an AMX Xeon) and Linux lends this process their state."""
    ready = getattr(cpu_kernel.library(), "amx_bf16_ready", None)
    return bool(ready and ready())


def estimating_heads(model: GPT) -> tuple[str, ...]:
    """The heads that estimate an argmax step's logits here, the likelier faster first: AMX tiles where the CPU
    has them (its product takes 32 inputs at a time), and bf16 by vdpbf16ps or widened."""
    return ("amx", "bf16") if amx_ready() and model.config.n_embd % 32 == 0 else ("bf16",)


@torch.inference_mode()
def time_steps(model: GPT, step, eps: float) -> list[bool]:
    """Per bucket of rows, whether the C step beat PyTorch's forward_cached (fastest_per_bucket)."""
    cache, pos = scratch_cache(model)
    fused = FusedDecode(model, cache, step, eps, argmax_head=("fp32",) * len(BUCKETS))

    def sides(rows: int, inputs: torch.Tensor) -> dict[str, Callable[[], object]]:
        return {"C": functools.partial(fused.run, inputs),
                "PyTorch": functools.partial(model.forward_cached, inputs[:, :1], inputs[:, 1:], cache.rows(0, rows),
                                             pos + 1, start=pos)}
    return [name == "C" for name in fastest_per_bucket(sides, pos, "CPU decode steps")]


@torch.inference_mode()
def time_prefills(model: GPT, step, eps: float) -> list[bool]:
    """Per PREFILL_BUCKETS, whether the C step prefilled that many positions (or the context, if shorter) of one
    sequence faster than forward_cached: the fastest of REPEATS each, alternated (cpu_paths.fastest). Their products
    may differ (the plain layout's are chosen per row count, the C step's are the kernel's), a bf16 model's PyTorch
    prefill rounds its activations to bf16 around them, and the C step's attention takes one row at a time: 1.05x
    PyTorch's at 128 rows of GPT-2 in bf16 panels on the Zen 3 EPYC, 0.28-0.37x in the plain layout on the Xeon
    host, where oneDNN multiplies by AMX tiles (bench/results/xeon-2026-12-03-s31/)."""
    sizes = [min(rows, model.config.block_size) for rows in PREFILL_BUCKETS]
    cache = KVCache(model.config, 1, sizes[-1], "cpu", model.transformer.wpe.weight.dtype)
    fused = FusedDecode(model, cache, step, eps, argmax_head=("fp32",) * len(BUCKETS))
    started = time.perf_counter()
    groups = [{(rows, "C"): functools.partial(fused.prefill, [[0] * rows], 0, 0),
               (rows, "PyTorch"): functools.partial(model.forward_cached, torch.zeros(1, rows, dtype=torch.long),
                                                    torch.arange(rows)[None], cache.rows(0, 1), rows, start=0)}
              for rows in sizes]
    best = cpu_paths.fastest(groups, REPEATS)
    log.info("CPU prefills timed in %.2f s (ms, C / PyTorch): %s", time.perf_counter() - started,
             "; ".join(f"rows {n}: {best[n, 'C'] * 1e3:.2f} / {best[n, 'PyTorch'] * 1e3:.2f}" for n in sizes))
    return [best[rows, "C"] < best[rows, "PyTorch"] for rows in sizes]


@torch.inference_mode()
def time_argmax_head(model: GPT, step, eps: float) -> list[str]:
    """Per bucket of rows, the head a C step for an argmax took the least time with (fastest_per_bucket): "fp32",
    or an estimating head (estimating_heads). The bf16 product reads half the bytes, but on the Xeon host (B)
    vdpbf16ps multiplies 16 rows more slowly than fp32 FMAs (a step 1.12-1.19x at one row, 0.90-1.03x at 16; on
    the Zen 5 1.19x and 1.09x: bench/results/xeon-2026-12-02-s26/), and its AMX tiles one row more slowly than
    vdpbf16ps (bench/results/xeon-2026-12-02-s27/)."""
    cache, pos = scratch_cache(model)
    fused = FusedDecode(model, cache, step, eps)

    def sides(rows: int, inputs: torch.Tensor) -> dict[str, Callable[[], object]]:
        return {head: functools.partial(fused.run, inputs, model.config.vocab_size, head)
                for head in (*estimating_heads(model), "fp32")}
    return fastest_per_bucket(sides, pos, "CPU decode steps for an argmax, by head")


def fastest_per_bucket(sides: Callable[[int, torch.Tensor], dict[str, Callable[[], object]]], pos: int,
                       what: str) -> list[str]:
    """Per bucket of rows, the name of the fastest of the steps that sides(rows, inputs) gives: each decodes token
    0 at `pos` in every row, the fastest of REPEATS each (cpu_paths.fastest). Each round passes every bucket, the
    sides taking turns to go first, so that a burst of load on a shared machine spoils one sample of several
    buckets, not all of one: a pass per bucket once chose PyTorch at 16 rows (C 21.4 against 20.7 ms; 18.8 against
    22.0 in other passes)."""
    started = time.perf_counter()
    groups = [{(rows, name): run for name, run in sides(rows, torch.tensor([[0, pos]] * rows)).items()}
              for rows in BUCKETS]
    names = [name for _, name in groups[0]]
    best = cpu_paths.fastest(groups, REPEATS)
    report = [f"rows {rows}: " + ", ".join(f"{name} {best[rows, name] * 1e3:.2f}" for name in names)
              for rows in BUCKETS]
    log.info("%s timed in %.2f s (ms a step): %s", what, time.perf_counter() - started, "; ".join(report))
    return [min(names, key=lambda name: best[rows, name]) for rows in BUCKETS]


def scratch_cache(model: GPT) -> tuple[KVCache, int]:
    """A cache of BUCKETS[-1] slots to time steps in, and the position they decode: 31 (or the context's last, if
    shorter)."""
    pos = min(31, model.config.block_size - 1)
    return KVCache(model.config, BUCKETS[-1], pos + 1, "cpu", model.transformer.wpe.weight.dtype), pos
