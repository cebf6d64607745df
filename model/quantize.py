"""int8 weights at load (QUANTIZE=int8): every Linear, lm_head and the token embedding, per output channel.

Each weight row w is stored as round(w / s) in int8 with s = max|w| / 127 (symmetric, one scale per output
channel): a quarter of the fp32 bytes, half of bf16. The kernels differ by device, because what pays differs:
- CPU: fbgemm/oneDNN's dynamic int8 GEMM (torch.ops.quantized.linear_dynamic): activations are quantized per
  call too and the product runs in int8 with int32 accumulation. On this project's 2-core EPYC it is 2-4x
  faster than the fp32 oneDNN linear; torch._weight_int8pack_mm (weight-only) exists there but measured 6x
  (batch 1) to 30x (batch 16) slower than fp32, so it is not used on CPU. Decode steps of a few rows go through
  model/cpu_step.py's C step instead where it was timed faster (on the EPYC, one row: 6.0-6.8 against 12-14.6
  ms): it quantizes activations per block of 32 rather than one scale per row, as llama.cpp's q8_0 does, which
  keeps greedy text nearer fp32's (tests/model/test_quantize.py).
- CUDA: weight-only torch._weight_int8pack_mm (bf16 activations, int8 weights dequantized in the kernel).
The token embedding shares the lm_head's int8 rows (the weights stay tied) and dequantizes the rows it looks up.
On the CPU it holds them as the C decode step's tiles (`tiles`), which that step's head reads too: one copy.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from .gpt import GPT

MODES = ("none", "int8")


TILE_COLUMNS = 64  # model/cpu_kernel.h's: the columns of each row an int8 tile holds together
ROWS_AT_ONCE = 2048  # rows quantized per pass: the fp32 temporaries of the 50k-row lm_head stay ~6 MB, not 150


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 rows, fp32 scale per row) of a (N, K) weight."""
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(w.shape[0], dtype=torch.float32, device=w.device)
    for start in range(0, w.shape[0], ROWS_AT_ONCE):
        rows = w[start:start + ROWS_AT_ONCE].float()
        s = (rows.abs().amax(dim=1) / 127).clamp(min=1e-12)
        q[start:start + ROWS_AT_ONCE] = torch.round(rows / s[:, None]).clamp(-127, 127)
        scale[start:start + ROWS_AT_ONCE] = s
    return q, scale


def tiles(rows: torch.Tensor) -> torch.Tensor:
    """int8 rows (out, in) as model/cpu_kernel.c's product_int8 reads them: (ceil(out / 8), 8 * in), tiles of eight
    rows (the last padded with rows of zeros), each holding columns 0..TILE_COLUMNS-1 of its eight rows, then the
    next TILE_COLUMNS, and so on, then the columns past the last multiple of TILE_COLUMNS, row by row. Filled in
    place, row j of every tile at once: no temporary copy of the matrix."""
    out, n = rows.shape
    whole = n // TILE_COLUMNS * TILE_COLUMNS
    laid = torch.zeros(-(-out // 8), 8 * n, dtype=rows.dtype, device=rows.device)
    body, rest = _tile_parts(laid, n)
    for j in range(8):
        every = rows[j::8]  # row j of each tile
        body[:len(every), :, j] = every[:, :whole].reshape(len(every), whole // TILE_COLUMNS, TILE_COLUMNS)
        rest[:len(every), j] = every[:, whole:]
    return laid


def _tile_parts(laid: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of tiles (..., 8 * n): (..., chunk, row, TILE_COLUMNS) and the rest, (..., row, n % TILE_COLUMNS)."""
    whole = n // TILE_COLUMNS * TILE_COLUMNS
    body = laid[..., :8 * whole].unflatten(-1, (whole // TILE_COLUMNS, 8, TILE_COLUMNS))
    return body, laid[..., 8 * whole:].unflatten(-1, (8, n - whole))


def rows_of_tiles(laid: torch.Tensor, n: int, idx: torch.Tensor) -> torch.Tensor:
    """Rows idx (any shape) of tiles of rows of n columns: (*idx.shape, n)."""
    body, rest = _tile_parts(laid[idx // 8], n)
    j = (idx % 8)[..., None, None]
    body = body.take_along_dim(j[..., None].expand(*body.shape[:-2], 1, TILE_COLUMNS), dim=-2)
    rest = rest.take_along_dim(j.expand(*rest.shape[:-2], 1, rest.shape[-1]), dim=-2)
    return torch.cat([body.flatten(-3), rest.flatten(-2)], dim=-1)


class Int8Linear(nn.Module):
    def __init__(self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.cpu = q.device.type == "cpu"
        if self.cpu:
            with warnings.catch_warnings():  # quantized tensor types are deprecated; the packed op is not
                warnings.simplefilter("ignore", UserWarning)
                qw = torch._make_per_channel_quantized_tensor(q, scale.double(),
                                                              torch.zeros_like(scale, dtype=torch.long), 0)
                b = None if bias is None else bias.float().clone()  # its own: the checkpoint's file stays unmapped
                self._packed = torch.ops.quantized.linear_prepack(qw, b)  # fbgemm's blocked layout, made once
            self._tiles = None  # the C decode step's layout, made by its first build (c_step_weights)
        else:
            self.register_buffer("weight_int8", q.contiguous())
            self.register_buffer("scale", scale.to(dtype))
            self.register_buffer("bias", None if bias is None else bias.to(dtype))

    def c_step_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(int8 tiles, fp32 scale per row, bias or None) of a CPU layer, as model/cpu_step.py's C step reads them:
        unpacked from fbgemm's layout into `tiles` at the first call, then kept, so every Decoder of the model (and
        the step's timing at load) shares one copy."""
        if self._tiles is None:
            weight, bias = torch.ops.quantized.linear_unpack(self._packed)
            self._tiles = tiles(weight.int_repr()), weight.q_per_channel_scales().float(), bias
        return self._tiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if self.cpu:
            y = torch.ops.quantized.linear_dynamic(x2.float().contiguous(), self._packed, False).to(x.dtype)
        else:
            y = torch._weight_int8pack_mm(x2.contiguous(), self.weight_int8, self.scale)
            if self.bias is not None:
                y = y + self.bias
        return y.view(*shape[:-1], self.out_features)


class Int8Embedding(nn.Module):
    """Lookup of int8 rows times their scales: the tied lm_head's quantized rows, as tiles on the CPU (`tiles`)."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype):
        super().__init__()
        self.tiled = q.device.type == "cpu"
        self.embedding_dim = q.shape[1]
        self.register_buffer("weight_int8", tiles(q) if self.tiled else q)
        self.register_buffer("scale", scale.to(dtype))
        self.dtype = dtype

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        rows = rows_of_tiles(self.weight_int8, self.embedding_dim, idx) if self.tiled else self.weight_int8[idx]
        return rows.to(self.dtype) * self.scale[idx].unsqueeze(-1)


def quantize_model(model: GPT, mode: str = "int8") -> GPT:
    """Replace the model's Linear layers (lm_head too) and its token embedding in place; returns the model."""
    if mode not in MODES:
        raise ValueError(f"unknown QUANTIZE mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "none":
        return model
    dtype = model.transformer.wpe.weight.dtype
    for parent, name in model.product_slots():
        lin: nn.Linear = getattr(parent, name)
        q, s = quantize_rows(lin.weight)
        setattr(parent, name, Int8Linear(q, s, lin.bias, dtype))
    tied = model.lm_head.weight is model.transformer.wte.weight
    q, s = quantize_rows(model.lm_head.weight)
    if tied:
        model.transformer.wte = Int8Embedding(q, s, dtype)
    model.lm_head = Int8Linear(q, s, None, dtype)
    return model


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the weights as held: parameters, buffers and the CPU layers' packed int8 weights."""
    total = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    for m in model.modules():
        if isinstance(m, Int8Linear) and m.cpu:
            total += m.out_features * m.in_features + m.out_features * 12  # int8 rows + scale, zero point
    return total
