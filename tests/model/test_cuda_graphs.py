"""The computation model/cuda_graphs.py captures for prefill, run eagerly on the CPU: prompts padded to a length
bucket and rows padded to a rows bucket give the logits and cache contents of the unpadded prefill, and decoding
after them gives the same tokens. (The capture itself needs CUDA: bench/gpu_check.py compares there.)"""
from __future__ import annotations

import torch

from checkpoints import tiny_model
from test_batch_prefill import MIXED, PROMPTS, one_at_a_time
from test_generate import loaded
from model.cuda_graphs import GraphedPrefill, prefill_into_slots
from model.generate import Decoder
from model.kv_cache import KVCache
from model.sampling import SamplingParams


@torch.inference_mode()
def test_padded_prefill_matches_the_prefill_it_replaces():
    model = tiny_model(seed=4, bias=False)
    eager, padded = (KVCache(model.config, 8, 64, "cpu", torch.float32) for _ in range(2))
    first, T, bucket = 2, len(PROMPTS[0]), 16
    idx = torch.tensor(PROMPTS)
    pos = torch.arange(T)[None, :].expand(3, T)
    want = model.forward_cached(idx, pos, eager.rows(first, first + 3), T, start=0)
    # 3 prompts padded to 16 tokens, and a fourth row of padding into the free slot after them
    inputs = torch.tensor([p + [0] * (bucket - T) + [first + i, T - 1] for i, p in enumerate(PROMPTS)]
                          + [[0] * bucket + [first + 3, T - 1]])
    got = prefill_into_slots(model, padded, inputs)[:3]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    for k_eager, k_padded in zip(eager.k + eager.v, padded.k + padded.v):
        torch.testing.assert_close(k_padded[first:first + 3, :, :T], k_eager[first:first + 3, :, :T])
        assert not k_padded[:first].any() and not k_padded[first + 4:].any()  # no other slot is touched


def test_decoding_after_bucketed_prefills_gives_the_eager_tokens():
    lm = loaded(tiny_model(seed=4, bias=False))
    extra = [([9, 9, 9], SamplingParams(max_tokens=30, temperature=0)),
             ([7, 8], SamplingParams(max_tokens=12, temperature=0))]
    alone = one_at_a_time(lm, PROMPTS + [p for p, _ in extra], MIXED + [q for _, q in extra])
    dec = Decoder(lm, max_batch=6)
    dec.prefill_graphs = GraphedPrefill(lm.model, dec.cache, dec.max_batch, capture=False)
    T = len(PROMPTS[0])
    assert dec.prefill_graphs.fits(3, T, first=1) and not dec.prefill_graphs.fits(3, T, first=3)  # 4 rows
    running = dec.add(*extra[0]).seq  # slot 0
    seqs = [o.seq for o in dec.add_many(list(zip(PROMPTS, MIXED)))]  # slots 1-3, padded with slot 4
    late = dec.add(*extra[1]).seq  # slot 4: one row, no padding
    while dec.running:
        dec.step()
    assert [s.tokens for s in seqs + [running, late]] == alone
