"""Automatic prefix caching: reused keys and values change no token, and the cache stays within its budget."""
import torch

from checkpoints import tiny_model
from test_generate import loaded
from model.generate import Decoder
from model.prefix_cache import BLOCK, PrefixCache
from model.sampling import SamplingParams

GREEDY = SamplingParams(max_tokens=20, temperature=0, logprobs=0)


def finish(decoder: Decoder, outs) -> list[list[int]]:
    while decoder.running:
        decoder.step()
    return [o.seq.tokens for o in outs]


def chat(decoder: Decoder, turns: int = 4, added: int = 37) -> list[tuple[int, list[int], list[float]]]:
    """A conversation: each prompt is the last one, its answer and `added` new tokens.
    (cached, answer, its logprobs) per turn."""
    prompt, out = [], []
    for turn in range(turns):
        prompt = prompt + list(range(100 + turn * added, 100 + (turn + 1) * added))
        (answer,) = finish(decoder, [o := decoder.add(prompt, GREEDY)])
        out.append((o.seq.cached, answer, [lp.logprob for lp in o.seq.logprobs]))
        prompt = prompt + answer
    return out


def test_a_conversation_decodes_the_same_with_the_cache():
    lm = loaded(tiny_model(seed=5, bias=False, block_size=256))
    with_cache = chat(Decoder(lm, max_batch=2, prefix_cache_mb=1))
    without = chat(Decoder(lm, max_batch=2))
    assert [answer for _, answer, _ in with_cache] == [answer for _, answer, _ in without]
    # the same distributions, not only the same argmax: a wrong key or value moves these
    torch.testing.assert_close([lp for *_, lp in with_cache], [lp for *_, lp in without], rtol=0, atol=1e-5)
    assert [cached for cached, *_ in without] == [0, 0, 0, 0]
    # from turn 2 on, everything the conversation held before this turn's new tokens, in whole blocks
    assert [cached for cached, *_ in with_cache] == [0, 48, 112, 160]


def test_cached_and_uncached_prompts_in_one_batch():
    lm = loaded(tiny_model(seed=6, bias=False, block_size=128))
    shared = list(range(300, 340))
    prompts = [shared + [7, 8, 9], [11] * 43, shared + [1, 2, 3]]  # one length: one add_many call
    alone = [finish(d, [d.add(p, GREEDY)])[0] for p in prompts for d in [Decoder(lm, max_batch=1)]]
    decoder = Decoder(lm, max_batch=4, prefix_cache_mb=1)
    finish(decoder, [decoder.add(shared + [5], GREEDY)])  # leaves `shared` in the cache
    decoder.add([4, 4, 4], SamplingParams(max_tokens=30, temperature=0))  # already running when the group joins
    outs = decoder.add_many([(p, GREEDY) for p in prompts])
    assert [o.seq.cached for o in outs] == [32, 0, 32]
    assert finish(decoder, outs)[:3] == alone


def test_a_sequence_that_slides_past_the_context_is_cached_as_it_was_computed():
    lm = loaded(tiny_model(seed=7, bias=False))  # block_size 64: 100 tokens slide once
    long = SamplingParams(max_tokens=100, temperature=0)
    plain = Decoder(lm, max_batch=1)
    (expected,) = finish(plain, [plain.add([5, 6, 7], long)])
    cached = Decoder(lm, max_batch=1, prefix_cache_mb=1)
    (tokens,) = finish(cached, [out := cached.add([5, 6, 7], long)])
    assert tokens == expected
    # the slot last held a later window of the sequence from position 0: that is what was kept, not the prompt
    seq = out.seq
    assert seq.window > 0
    window = (seq.prompt + seq.tokens)[seq.window:seq.window + seq.pos]
    assert len(cached.prefix_cache.match(window)) == len(window) // BLOCK >= 2
    assert cached.prefix_cache.match([5, 6, 7] + tokens[:BLOCK]) == []


def test_eviction_keeps_the_budget_and_the_most_recent_chains():
    config = tiny_model(block_size=256).config
    cache = PrefixCache(config, 0.05, "cpu", torch.float32)  # 6 blocks of 2 layers x 32 dims
    assert cache.capacity == 6
    kv = Decoder(loaded(tiny_model(block_size=256)), max_batch=1).cache
    first, second = list(range(64)), list(range(1000, 1064))  # four blocks each
    cache.store(first, kv, 0)
    cache.store(second, kv, 0)
    assert len(cache.blocks) == 6 and not cache.free
    assert len(cache.match(second)) == 4  # the newest chain is whole
    assert len(cache.match(first)) == 2  # the older one lost its last blocks, never its first
    cache.store(first[:32] + [9] * 32, kv, 0)  # shares two blocks with `first`, adds two
    assert len(cache.match(first[:32] + [9] * 32)) == 4
    assert len(cache.blocks) == 6


def test_loaded_blocks_are_the_stored_keys_and_values():
    lm = loaded(tiny_model(seed=8, bias=False))
    decoder = Decoder(lm, max_batch=2, prefix_cache_mb=1)
    finish(decoder, [decoder.add(list(range(40)), SamplingParams(max_tokens=1))])
    before = [k[0, :, :32].clone() for k in decoder.cache.k]
    chain = decoder.prefix_cache.match(list(range(40)))
    decoder.prefix_cache.load(chain, decoder.cache, 1)
    for k, b in zip(decoder.cache.k, before):
        torch.testing.assert_close(k[1, :, :32], b, rtol=0, atol=0)
