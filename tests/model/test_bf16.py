"""DTYPE=bfloat16 and KV_CACHE_DTYPE=bfloat16 on the CPU: half the bytes per token (or half of what attention reads),
the bundled model's predictions within 1% of float32's."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from test_quantize import HELD_OUT, sharpened_greedy
from model.kv_cache import KVCache
from model.loader import load_model
from model.settings import BUNDLED_CHECKPOINT


def perplexity(lm) -> float:
    """Of the model's own predictions on held-out text, decoded a token at a time through its KV cache (each token
    attends to the keys and values as the cache keeps them), the loss computed in float32 whatever the dtypes."""
    ids = lm.tokenizer.encode(HELD_OUT)
    cache = KVCache(lm.config, 1, len(ids), "cpu", lm.kv_dtype)
    with torch.inference_mode():
        logits = torch.cat([lm.model.forward_cached(torch.tensor([[token]]), torch.tensor([[t]]), cache.rows(0, 1),
                                                    t + 1, start=t).float() for t, token in enumerate(ids[:-1])])
    return math.exp(F.cross_entropy(logits, torch.tensor(ids[1:])).item())


def test_bf16_perplexity_within_one_percent():
    full = load_model(BUNDLED_CHECKPOINT, "cpu", "float32")
    half = load_model(BUNDLED_CHECKPOINT, "cpu", "bfloat16")
    half_cache = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", kv_dtype="bfloat16")
    assert half.model.lm_head.weight.dtype == half.kv_dtype == half_cache.kv_dtype == torch.bfloat16
    assert half_cache.model.lm_head.weight.dtype == torch.float32
    p_full, p_half, p_half_cache = perplexity(full), perplexity(half), perplexity(half_cache)
    print(f"\nperplexity on Sonnet 18: float32 {p_full:.3f}, bfloat16 {p_half:.3f}, "
          f"float32 with a bfloat16 KV cache {p_half_cache:.3f}")
    assert p_half_cache != p_full  # the cache's rounding is in the sum
    assert abs(p_half - p_full) / p_full < 0.01 and abs(p_half_cache - p_full) / p_full < 0.01


@pytest.mark.parametrize("matmul", ["kernel", "torch"])  # model/cpu_step.py's C step; PyTorch's step (oneDNN)
def test_bf16_greedy_tokens_are_float32s_on_a_sharpened_model(monkeypatch, matmul):
    monkeypatch.setenv("CPU_MATMUL", matmul)
    full, half = sharpened_greedy("float32"), sharpened_greedy("bfloat16")
    assert full[0] == half[0] == half[1]


@pytest.mark.parametrize("matmul", ["kernel", "torch"])
def test_a_bf16_kv_cache_gives_float32s_greedy_tokens_on_a_sharpened_model(monkeypatch, matmul):
    monkeypatch.setenv("CPU_MATMUL", matmul)
    full, half_cache = sharpened_greedy("float32"), sharpened_greedy("float32", kv_dtype="bfloat16")
    assert full[0] == half_cache[0] == half_cache[1]
