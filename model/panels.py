"""fp32 or bf16 weights held in panels for the CPU: the layout model/cpu_panels.c multiplies, on CPUs with AVX-512
or AVX2.

A panel holds 64 output rows' weights input by input, a 32-bit lane per output: one fp32 input, or a pair of
bf16 inputs. A matrix (out, in) becomes (ceil(out / 64), in / pair, 64, pair), the last panel padded with rows of
zeros. One 64-byte line is then one step's weights for 16 outputs, which the kernel multiplies by six broadcast
rows of x at a time with no reduction across lanes, reading each panel as one stream: against cpu_kernel.c's dot
products, GPT-2 124M's 16-row fp32 products 1.3-1.4x on a Xeon and a Zen 5, bf16 ones 1.6-1.8x on the Zen 5, and
past 32 rows fp32 faster than oneDNN (cpu_panels.c has the figures). One layout serves prefill and decode, so the
model keeps one copy of its weights, as before.

to_panels replaces a model's Linear layers and its token embedding in place, as model/quantize.py does for int8:
for serving on the CPU only (loader.place_model's `panels`), since its state_dict no longer loads into a GPT. Where
a CPU has AVX-512 or AVX2, the first load of a model's shapes times the panels against the plain layout's products
and keeps the faster (`serves_from_panels`, cached beside cpu_paths' choices); CPU_MATMUL=panels takes them untimed.
"""
from __future__ import annotations

import logging
import math
import os
import time

import torch
import torch.nn as nn

from . import cpu_kernel, cpu_paths

WIDTH = 64  # model/cpu_kernel.h's PANEL_WIDTH
ROWS_AT_ONCE = 64 * WIDTH  # rows laid out per pass: temporaries of a few MB, not the 154 MB of GPT-2's head
log = logging.getLogger(__name__)


def pair_of(dtype: torch.dtype) -> int:
    """Inputs a panel's 32-bit lane holds: one fp32, two bf16."""
    return 4 // dtype.itemsize


def panels_of(w: torch.Tensor) -> torch.Tensor:
    """A weight (out, in) as panels (ceil(out / WIDTH), in / pair, WIDTH, pair); bf16: in even."""
    out, n = w.shape
    pair = pair_of(w.dtype)
    laid = torch.zeros(-(-out // WIDTH), n // pair, WIDTH, pair, dtype=w.dtype)
    for start in range(0, out, ROWS_AT_ONCE):
        rows = w[start:start + ROWS_AT_ONCE].reshape(-1, n // pair, pair)
        whole, rest = divmod(rows.shape[0], WIDTH)
        first = start // WIDTH
        laid[first:first + whole] = rows[:whole * WIDTH].view(whole, WIDTH, n // pair, pair).transpose(1, 2)
        if rest:
            laid[first + whole, :, :rest] = rows[whole * WIDTH:].transpose(0, 1)
    return laid


@torch.inference_mode()
def rounded_to_bf16(panels: torch.Tensor) -> tuple[torch.Tensor, float, float, float] | None:
    """fp32 panels (P, in, WIDTH, 1) rounded to bf16 panels (P, in / 2, WIDTH, 2), with the maxima over the output
    rows of |w - w16|, |w| and |w16| (L2 norms, in float64), which bound the bf16 product's error (model/cpu_step.c's
    head_for_argmax); None for an odd `in` or weights that are not all finite."""
    P, n, width, _ = panels.shape
    if n % 2:
        return None
    laid = torch.empty(P, n // 2, width, 2, dtype=torch.bfloat16)
    error = norm = norm16 = 0.0
    for start in range(0, P, 64):  # 64 panels a pass: GPT-2's head in 13 of ~25 MB of float64 each
        w = panels[start:start + 64, :, :, 0]  # (p, in, WIDTH): a column per output row
        w16 = w.bfloat16()
        laid[start:start + 64] = w16.view(-1, n // 2, 2, width).transpose(2, 3)
        w, w16 = w.double(), w16.double()
        error = max(error, (w - w16).norm(dim=1).max().item())
        norm, norm16 = max(norm, w.norm(dim=1).max().item()), max(norm16, w16.norm(dim=1).max().item())
    return (laid, error, norm, norm16) if math.isfinite(error + norm + norm16) else None


class PanelLinear(nn.Module):
    """A Linear layer of fp32 or bf16 weights in panels; forward(x, gelu) multiplies any number of rows."""

    def __init__(self, panels: torch.Tensor, out_features: int, bias: torch.Tensor | None):
        super().__init__()
        self.out_features, self.in_features = out_features, panels.shape[1] * panels.shape[3]
        self.register_buffer("panels", panels)
        self.register_buffer("bias", None if bias is None else bias.float().clone())  # its own: see own_memory

    def forward(self, x: torch.Tensor, gelu: str | None = None) -> torch.Tensor:
        """gelu(x @ W.T + bias), gelu being nn.GELU's `approximate` or None for none."""
        return cpu_kernel.panel_linear(x, self.panels, self.bias, self.out_features, gelu)


class PanelEmbedding(nn.Module):
    """Lookup of rows of a matrix held in panels: the tied head's, or the token embedding's own."""

    def __init__(self, panels: torch.Tensor):
        super().__init__()
        self.register_buffer("panels", panels)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.panels[idx // WIDTH, :, idx % WIDTH].flatten(-2)  # (*idx.shape, n_embd)


def serves_from_panels(model: nn.Module, choice: dict[str, tuple[str, ...]]) -> bool:
    """Whether this GPT (on the CPU, its products fp32 or bf16 nn.Linear layers given their products per row bucket
    by cpu_paths.choose: `choice`) is served from panels on this CPU: where the kernel has them (AVX-512 or AVX2), with
    CPU_MATMUL=panels, or under `auto` where they were timed faster (time_panels), cached per machine."""
    forced = os.environ.get("CPU_MATMUL", "auto")
    layers = model.products()
    if (forced not in ("auto", "panels") or not cpu_kernel.has_panels()
            or any(type(m) is not nn.Linear or m.weight.dtype not in (torch.float32, torch.bfloat16)
                   or m.in_features % pair_of(m.weight.dtype) for m in layers)):
        return False
    if forced == "panels":
        return True
    key = "panels against " + ", ".join(f"{shape}: {' '.join(paths)}" for shape, paths in sorted(choice.items()))
    return cpu_paths.cached([key], lambda _: {key: time_panels(layers, choice)})[key]


@torch.inference_mode()
def time_panels(layers: list[nn.Linear], choice: dict[str, tuple[str, ...]]) -> bool:
    """Whether the products from panels beat the plain layout's chosen ones, by the geometric mean over the row
    buckets of their times: each a pass over the layers as cpu_paths.time_products reads them (from memory, as a
    decode step does, up to MAX_ROWS rows; x in the weights' dtype, as PyTorch's forward gives it), the fastest of
    cpu_paths.REPEATS, the two sides alternated. The layers
    timed are laid out in panels for it: up to twice the last-level cache, briefly."""
    started = time.perf_counter()
    laid: dict[int, torch.Tensor] = {}
    groups = []
    for bucket, rows in enumerate(cpu_paths.BUCKETS):
        budget = 2 * cpu_paths.last_level_cache() if rows <= cpu_kernel.MAX_ROWS else 0
        operands = cpu_paths.timing_operands(layers, budget)
        xs = {w.shape[1]: torch.randn(rows, w.shape[1], dtype=w.dtype) for _, w, _ in operands}
        plain = [(cpu_paths.PRODUCTS[choice[shape][bucket]], w, b, xs[w.shape[1]]) for shape, w, b in operands]
        for _, w, _ in operands:  # whole layers recur from bucket to bucket: laid out once
            if id(w) not in laid:
                laid[id(w)] = panels_of(w)
        panels = [(laid[id(w)], w.shape[0], b, xs[w.shape[1]]) for _, w, b in operands]

        def plain_pass(plain=plain):
            for product, w, b, x in plain:
                product(x, w, b, None)

        def panels_pass(panels=panels):
            for p, out, b, x in panels:
                cpu_kernel.panel_linear(x, p, b, out)
        groups.append({(rows, "plain"): plain_pass, (rows, "panels"): panels_pass})
    best = cpu_paths.fastest(groups, cpu_paths.REPEATS)
    ratios = [best[rows, "panels"] / best[rows, "plain"] for rows in cpu_paths.BUCKETS]
    report = [f"rows {rows}: {best[rows, 'panels'] * 1e3:.2f} / {best[rows, 'plain'] * 1e3:.2f}"
              for rows in cpu_paths.BUCKETS]
    log.info("CPU products from panels timed in %.2f s (ms per pass, panels / plain): %s",
             time.perf_counter() - started, "; ".join(report))
    return math.prod(ratios) < 1


def to_panels(model: nn.Module) -> nn.Module:
    """Replace a GPT's products (lm_head too) and its token embedding by their panels, in place (model/gpt.py
    imports this module, so the GPT is not named here)."""
    for parent, name in model.product_slots():
        layer: nn.Linear = getattr(parent, name)
        setattr(parent, name, PanelLinear(panels_of(layer.weight), layer.out_features, layer.bias))
    t = model.transformer
    head = PanelLinear(panels_of(model.lm_head.weight), model.lm_head.out_features, model.lm_head.bias)
    t.wte = PanelEmbedding(head.panels if model.lm_head.weight is t.wte.weight else panels_of(t.wte.weight))
    model.lm_head = head
    return model
