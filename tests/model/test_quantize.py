"""QUANTIZE=int8: the bundled model's perplexity on held-out text stays within 2% of the unquantized model's."""
from __future__ import annotations

import math

import torch

from model.generate import generate
from model.loader import load_model
from model.quantize import Int8Linear, weight_bytes
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT

# Sonnet 18 (public domain): the bundled model was trained on the plays, not the sonnets
HELD_OUT = """Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date:
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade
Nor lose possession of that fair thou owest;
Nor shall Death brag thou wander'st in his shade,
When in eternal lines to time thou growest:
So long as men can breathe or eyes can see,
So long lives this and this gives life to thee.
"""


def _perplexity(lm) -> float:
    ids = torch.tensor([lm.tokenizer.encode(HELD_OUT)])
    with torch.inference_mode():
        _, loss = lm.model(ids[:, :-1], ids[:, 1:])
    return math.exp(loss.item())


def test_int8_perplexity_within_two_percent_and_smaller():
    full = load_model(BUNDLED_CHECKPOINT, "cpu", "float32")
    int8 = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", quantize="int8")
    assert sum(isinstance(m, Int8Linear) for m in int8.model.modules()) == 4 * int8.config.n_layer + 1
    p_full, p_int8 = _perplexity(full), _perplexity(int8)
    print(f"\nperplexity on Sonnet 18: float32 {p_full:.2f}, int8 {p_int8:.2f}")
    assert abs(p_int8 - p_full) / p_full < 0.02
    assert weight_bytes(int8.model) < 0.5 * weight_bytes(full.model)


def test_int8_model_decodes_through_the_decoder():
    lm = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", quantize="int8")
    prompt = lm.tokenizer.encode("ROMEO:")
    (seq,) = generate(lm, [prompt], SamplingParams(max_tokens=12, temperature=0))
    assert len(seq.tokens) == 12 and max(seq.tokens) < lm.tokenizer.n_vocab
