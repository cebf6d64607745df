"""A CUDA decode step for a batch of a few rows in five Triton kernels a layer, captured in model/cuda_graphs.py's
graphs (up to its FUSED_MAX_BATCH rows).

At one stream the graphed step through PyTorch is ~165 kernels (PERFORMANCE.md): a layer norm, a product, a
bias, a residual add, a GELU or a cache copy each take a few microseconds to start and finish, while the bytes of
a GPT-2 124M step take ~0.05 ms at HBM speed. Here each product carries what sits around it:
- the layer norm before it (each program normalises the row again: it is a few kilobytes, in L2),
- its bias, then the GELU or the residual add after it,
- for the QKV product, the write of the new keys and values into the KV cache;
and decode attention is one kernel, one program per (row, head), an online softmax over the row's keys 0..pos.
That is 5 kernels a layer and one for the head: ~65 a step instead of ~165, and 0.28 ms instead of 0.68 on an
H200 at batch 1 (bench/fused_step.py).

A batch of one waits on latency, not bandwidth: each program loads its rows of the weights whole, at once, and
keeps them in registers while it takes x a row at a time, so each further row costs a pass over x but no more
weight reads; PyTorch's step is faster from 8 rows on. Sums are in fp32, and results are rounded to the model's
dtype wherever PyTorch's step rounds them (after each product, layer norm, GELU and residual add), so the tokens
follow PyTorch's; only the order of the sums differs.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .gpt import GPT
from .kv_cache import LayerCache

# tile shapes and warps: the fastest of a sweep at batch 1 on an H200 (bench/fused_step.py, PERFORMANCE.md)
TILE = 8192  # weights a program holds: GPT-2 124M's products take 8 (or 2) rows of w a program, 96 to 6,288 programs
WARPS = 4
BLOCK_T = 256  # keys per iteration of decode attention: contexts of up to 256 in one pass
ATTENTION_WARPS = 4
ACTIVATIONS = {None: 0, "none": 1, "tanh": 2}  # none, or nn.GELU's approximate= ("none" is erf)


def supports(model: GPT) -> bool:
    """Whether this step computes `model`: 16-bit nn.Linear products (not model/quantize.py's int8) on CUDA, their
    weights contiguous (the kernel reads a row of w as K consecutive values)."""
    products = model.products()
    # the layers' types first: model/quantize.py's int8 layers have no `weight`
    return (all(type(m) is torch.nn.Linear and m.weight.is_contiguous() for m in products)
            and products[0].weight.is_cuda and products[0].weight.dtype in (torch.bfloat16, torch.float16)
            and model.config.gelu_approximate in ("none", "tanh"))


@triton.jit(do_not_specialize=["M"])  # one compile for every batch size
def _fused_linear(x_ptr, ln_w_ptr, ln_b_ptr, w_ptr, bias_ptr, res_ptr, out_ptr,
                  k_ptr, v_ptr, pos_ptr, M, N, K, eps, stride_slot, stride_head, stride_pos,
                  LN: tl.constexpr, LN_BIAS: tl.constexpr, BIAS: tl.constexpr, ACT: tl.constexpr,
                  RESIDUAL: tl.constexpr, KV: tl.constexpr, HS: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """out (M, N) = [res +] act(LN(x) @ w.T + bias) for x (M, K), w (N, K), all contiguous. With KV, the columns
    are q, k, v (N = 3C): q goes to out (M, C), k and v into the cache at (row, head, pos[row]).

    A program holds BLOCK_N whole rows of w (BLOCK_K >= K) in registers, loaded at once: at a batch of one the
    step waits on memory latency, not bandwidth, so no loop over K. It then takes x a row at a time."""
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    col_ok = rn < N
    k_ok = rk < K
    dtype = out_ptr.dtype.element_ty
    w = tl.load(w_ptr + rn[:, None] * K + rk[None, :], mask=col_ok[:, None] & k_ok[None, :], other=0.0)
    w = w.to(tl.float32)
    if LN:
        ln_w = tl.load(ln_w_ptr + rk, mask=k_ok, other=0.0).to(tl.float32)
        if LN_BIAS:
            ln_b = tl.load(ln_b_ptr + rk, mask=k_ok, other=0.0).to(tl.float32)
    if BIAS:
        bias = tl.load(bias_ptr + rn, mask=col_ok, other=0.0).to(tl.float32)
    for m in range(M):
        x = tl.load(x_ptr + m * K + rk, mask=k_ok, other=0.0).to(tl.float32)
        if LN:  # mean, then variance about it, as torch's layer norm; rounded to the model's dtype, as there
            d = tl.where(k_ok, x - tl.sum(x, axis=0) / K, 0.0)
            x = d / tl.sqrt(tl.sum(d * d, axis=0) / K + eps) * ln_w
            if LN_BIAS:
                x += ln_b
            x = x.to(dtype).to(tl.float32)
        y = tl.sum(w * x[None, :], axis=1)
        if BIAS:
            y += bias
        y = y.to(dtype).to(tl.float32)  # PyTorch's product ends in the model's dtype
        if ACT == 1:  # GELU as erf
            y = (0.5 * y * (1.0 + tl.erf(y * 0.7071067811865476))).to(dtype).to(tl.float32)
        if ACT == 2:  # GELU as tanh, tanh(z) = 2 sigmoid(2z) - 1
            z = 0.7978845608028654 * (y + 0.044715 * y * y * y)
            y = (0.5 * y * (2.0 * tl.sigmoid(2.0 * z))).to(dtype).to(tl.float32)
        if RESIDUAL:
            y += tl.load(res_ptr + m * N + rn, mask=col_ok, other=0.0).to(tl.float32)
        y = y.to(dtype)
        if KV:
            C = N // 3
            tl.store(out_ptr + m * C + rn, y, mask=col_ok & (rn < C))
            j = tl.where(rn < 2 * C, rn - C, rn - 2 * C)  # column within k or v
            at = m * stride_slot + (j // HS) * stride_head + tl.load(pos_ptr + m) * stride_pos + j % HS
            tl.store(k_ptr + at, y, mask=col_ok & (rn >= C) & (rn < 2 * C))
            tl.store(v_ptr + at, y, mask=col_ok & (rn >= 2 * C))
        else:
            tl.store(out_ptr + m * N + rn, y, mask=col_ok)


@triton.jit
def _decode_attention(q_ptr, k_ptr, v_ptr, pos_ptr, out_ptr, C, scale, stride_slot, stride_head, stride_pos,
                      HS: tl.constexpr, HS_BLOCK: tl.constexpr, BLOCK_T: tl.constexpr):
    """One query per row against the row's keys 0..pos[row]: program (row, head), an online softmax in fp32."""
    row = tl.program_id(0)
    head = tl.program_id(1)
    d = tl.arange(0, HS_BLOCK)
    d_ok = d < HS
    q = tl.load(q_ptr + row * C + head * HS + d, mask=d_ok, other=0.0).to(tl.float32)
    last = tl.load(pos_ptr + row)
    base = row * stride_slot + head * stride_head
    m = -float("inf")
    total = 0.0
    acc = tl.zeros([HS_BLOCK], dtype=tl.float32)
    for t0 in range(0, last + 1, BLOCK_T):
        t = t0 + tl.arange(0, BLOCK_T)
        t_ok = t <= last
        at = base + t[:, None] * stride_pos + d[None, :]
        kt = tl.load(k_ptr + at, mask=t_ok[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
        s = tl.where(t_ok, tl.sum(kt * q[None, :], axis=1) * scale, -float("inf"))
        m_new = tl.maximum(m, tl.max(s, axis=0))
        p = tl.exp(s - m_new)
        alpha = tl.exp(m - m_new)
        vt = tl.load(v_ptr + at, mask=t_ok[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
        acc = acc * alpha + tl.sum(p[:, None] * vt, axis=0)
        total = total * alpha + tl.sum(p, axis=0)
        m = m_new
    tl.store(out_ptr + row * C + head * HS + d, (acc / total).to(out_ptr.dtype.element_ty), mask=d_ok)


def fused_linear(x: torch.Tensor, layer: torch.nn.Linear, ln: torch.nn.LayerNorm | None = None,
                 act: str | None = None, residual: torch.Tensor | None = None,
                 cache: LayerCache | None = None, pos: torch.Tensor | None = None) -> torch.Tensor:
    """[residual +] act(layer(ln(x))) for x (M, K). With a cache (the QKV product), the keys and values go into it
    at each row's position pos (M,) and only q (M, C) is returned."""
    M, K = x.shape
    N = layer.out_features
    out = x.new_empty((M, N // 3 if cache is not None else N))
    kv = (cache.k, cache.v, pos) if cache is not None else (out, out, out)
    strides = cache.k.stride()[:3] if cache is not None else (0, 0, 0)
    block_k = triton.next_power_of_2(K)
    block_n = max(1, TILE // block_k)
    _fused_linear[(triton.cdiv(N, block_n),)](
        x, ln.weight if ln is not None else x, ln.bias if ln is not None and ln.bias is not None else x,
        layer.weight, layer.bias if layer.bias is not None else x, residual if residual is not None else x, out,
        *kv, M, N, K, ln.eps if ln is not None else 0.0, *strides,
        LN=ln is not None, LN_BIAS=ln is not None and ln.bias is not None, BIAS=layer.bias is not None,
        ACT=ACTIVATIONS[act], RESIDUAL=residual is not None, KV=cache is not None,
        HS=cache.k.size(-1) if cache is not None else 1,
        BLOCK_N=block_n, BLOCK_K=block_k, num_warps=WARPS)
    return out


def decode_attention(q: torch.Tensor, cache: LayerCache, pos: torch.Tensor) -> torch.Tensor:
    """(M, C) attention outputs of one query a row over its keys 0..pos[row] in the cache's rows 0..M-1."""
    M, C = q.shape
    n_head, hs = cache.k.size(1), cache.k.size(3)
    out = torch.empty_like(q)
    _decode_attention[(M, n_head)](q, cache.k, cache.v, pos, out, C, hs ** -0.5, *cache.k.stride()[:3],
                                   HS=hs, HS_BLOCK=triton.next_power_of_2(hs), BLOCK_T=BLOCK_T,
                                   num_warps=ATTENTION_WARPS)
    return out


def decode_step(model: GPT, idx: torch.Tensor, input_pos: torch.Tensor, caches: list[LayerCache]) -> torch.Tensor:
    """Logits (B, vocab) for one new token a row: idx and input_pos (B, 1); row i is caches' row i."""
    t = model.transformer
    pos = input_pos[:, 0]
    x = t.wte(idx[:, 0]) + t.wpe(pos)  # (B, C)
    for block, cache in zip(t.h, caches):
        q = fused_linear(x, block.attn.c_attn, ln=block.ln_1, cache=cache, pos=pos)
        y = decode_attention(q, cache, pos)
        x = fused_linear(y, block.attn.c_proj, residual=x)
        h = fused_linear(x, block.mlp.c_fc, ln=block.ln_2, act=block.mlp.gelu.approximate)
        x = fused_linear(h, block.mlp.c_proj, residual=x)
    return fused_linear(x, model.lm_head, ln=t.ln_f)
