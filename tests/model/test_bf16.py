"""DTYPE=bfloat16 on the CPU: half the bytes per token, the bundled model's predictions within 1% of float32's."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from test_quantize import HELD_OUT, sharpened_greedy
from model.loader import load_model
from model.settings import BUNDLED_CHECKPOINT


def perplexity(lm) -> float:
    """Of the model's own predictions on held-out text, the loss computed in float32 whatever the model's dtype."""
    ids = torch.tensor([lm.tokenizer.encode(HELD_OUT)])
    with torch.inference_mode():
        x = lm.model.transformer.wte(ids[:, :-1]) + lm.model.transformer.wpe(torch.arange(ids.size(1) - 1))
        for block in lm.model.transformer.h:
            x = block(x)
        logits = lm.model.lm_head(lm.model.transformer.ln_f(x)).float()
    return math.exp(F.cross_entropy(logits[0], ids[0, 1:]).item())


def test_bf16_perplexity_within_one_percent():
    full = load_model(BUNDLED_CHECKPOINT, "cpu", "float32")
    half = load_model(BUNDLED_CHECKPOINT, "cpu", "bfloat16")
    assert half.model.lm_head.weight.dtype == torch.bfloat16
    p_full, p_half = perplexity(full), perplexity(half)
    print(f"\nperplexity on Sonnet 18: float32 {p_full:.2f}, bfloat16 {p_half:.2f}")
    assert abs(p_half - p_full) / p_full < 0.01


@pytest.mark.parametrize("matmul", ["kernel", "torch"])  # model/cpu_step.py's C step; PyTorch's step (oneDNN)
def test_bf16_greedy_tokens_are_float32s_on_a_sharpened_model(monkeypatch, matmul):
    monkeypatch.setenv("CPU_MATMUL", matmul)
    full, half = sharpened_greedy("float32"), sharpened_greedy("bfloat16")
    assert full[0] == half[0] == half[1]
