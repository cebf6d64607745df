"""Decoder.add_many: prompts of one length prefilled in one forward give the tokens they get one at a time."""
from __future__ import annotations

import pytest

from checkpoints import tiny_model
from test_generate import loaded
from model.generate import Decoder, generate
from model.sampling import SamplingParams

PROMPTS = [[5, 9, 200, 7], [1, 2, 3, 4], [300, 301, 302, 303]]
# greedy, seeded sampling, and seeded sampling with top_k: one per prompt
MIXED = [SamplingParams(max_tokens=12, temperature=0), SamplingParams(max_tokens=5, temperature=1.0, seed=3),
         SamplingParams(max_tokens=9, temperature=0.8, seed=8, top_k=10)]


def one_at_a_time(lm, prompts: list[list[int]], params: list[SamplingParams]) -> list[list[int]]:
    """The tokens each prompt gets decoded alone: the reference for batched and bucketed prefills."""
    return [generate(lm, [p], q, max_batch=1)[0].tokens for p, q in zip(prompts, params)]


def test_add_many_equals_one_at_a_time():
    lm = loaded(tiny_model(seed=4, bias=False))
    alone = one_at_a_time(lm, PROMPTS, MIXED)
    dec = Decoder(lm, max_batch=4)
    dec.add([9, 9], SamplingParams(max_tokens=20, temperature=0))  # already running: the group joins it
    seqs = [o.seq for o in dec.add_many(list(zip(PROMPTS, MIXED)))]
    assert [s.slot for s in seqs] == [1, 2, 3]
    while dec.running:
        dec.step()
    assert [s.tokens for s in seqs] == alone


def test_rows_in_step_decode_as_they_do_alone():
    # one length, added together: every step writes the cache through a slice and attends without a mask
    lm = loaded(tiny_model(seed=4, bias=False))
    params = [SamplingParams(max_tokens=12, temperature=0), SamplingParams(max_tokens=7, temperature=1.0, seed=3),
              SamplingParams(max_tokens=12, temperature=0, presence_penalty=1.5)]
    alone = one_at_a_time(lm, PROMPTS, params)
    dec = Decoder(lm, max_batch=3)
    seqs = [o.seq for o in dec.add_many(list(zip(PROMPTS, params)))]
    while dec.running:
        dec.step()
    assert [s.tokens for s in seqs] == alone


def test_add_many_refuses_mixed_lengths_and_takes_no_slot():
    lm = loaded(tiny_model(seed=4, bias=False))
    dec = Decoder(lm, max_batch=4)
    with pytest.raises(ValueError):
        dec.add_many([([1, 2], SamplingParams()), ([1, 2, 3], SamplingParams())])
    assert dec.free_slots == 4
