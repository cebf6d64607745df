"""Decoding: the KV cache changes nothing, batching changes nothing, and every sampling parameter does its job."""
import pytest
import torch

from checkpoints import tiny_model
from model import Decoder, SamplingParams, generate, gpt2_tokenizer, stream
from model.checkpoint import Checkpoint
from model.loader import LoadedModel

TOK = gpt2_tokenizer()
PROMPTS = [TOK.encode(t) for t in ["Once upon a time", "The", "In a hole in the ground there lived a hobbit.",
                                   "To be, or not to be, that is the question:"]]


def loaded(model) -> LoadedModel:
    return LoadedModel(model, TOK, Checkpoint("tiny", "test", model.config, {}, TOK), torch.device("cpu"),
                       torch.float32)


@pytest.fixture(scope="module")
def lm():
    return loaded(tiny_model(seed=3, bias=False))


def greedy_by_recomputation(model, prompt, n):
    """nanoGPT's way: the whole sequence through the model for every token, no cache."""
    idx, out = torch.tensor([prompt]), []
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(idx)
            logits[..., TOK.n_vocab:] = float("-inf")
            token = int(logits[0, -1].argmax())
            out.append(token)
            idx = torch.cat([idx, torch.tensor([[token]])], dim=1)
    return out


def run_solo(lm, prompt, params):
    return [o.token for o in stream(lm, prompt, params)]


@pytest.mark.parametrize("variant", [dict(bias=False), dict(bias=True, gelu_approximate="tanh")])
def test_greedy_with_cache_equals_recomputation(variant):
    model = tiny_model(seed=1, **variant)
    for prompt in PROMPTS:
        assert run_solo(loaded(model), prompt, SamplingParams(max_tokens=40, temperature=0)) == \
            greedy_by_recomputation(model, prompt, 40)


def test_batched_equals_one_at_a_time_with_joins_and_leaves(lm):
    params = [SamplingParams(max_tokens=n, temperature=0) for n in (25, 9, 30)] + \
             [SamplingParams(max_tokens=20, temperature=0.9, top_k=40, top_p=0.95, seed=s) for s in (7, 8)]
    prompts = PROMPTS + PROMPTS[:1]
    solo = [run_solo(lm, p, sp) for p, sp in zip(prompts, params)]
    decoder = Decoder(lm, max_batch=3)
    seqs = [decoder.add(prompts[0], params[0]).seq]
    for i in range(1, len(prompts)):  # a new sequence joins every few steps, whenever a slot is free
        for _ in range(3):
            decoder.step()
        while not decoder.free_slots:
            decoder.step()
        seqs.append(decoder.add(prompts[i], params[i]).seq)
    while decoder.running:
        decoder.step()
    assert [s.tokens for s in seqs] == solo
    assert all(s.finish_reason == "length" for s in seqs)


def test_seed_reproducible_whatever_the_companions(lm):
    params = SamplingParams(max_tokens=30, temperature=1.0, seed=1234)
    alone = generate(lm, [PROMPTS[0]], params)[0].tokens
    companions = [SamplingParams(max_tokens=30, temperature=1.3), SamplingParams(max_tokens=5, top_p=0.5, seed=1),
                  SamplingParams(max_tokens=30, temperature=0)]
    crowd = generate(lm, [PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[3]], [params, *companions], max_batch=4)
    assert crowd[0].tokens == alone
    assert generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=1.0, seed=99))[0].tokens != alone


def test_padded_ids_are_never_sampled():
    model = tiny_model(seed=2)
    with torch.no_grad():  # make the padding rows (50257..50303) the most likely tokens by far
        model.transformer.wte.weight[TOK.n_vocab:] = 50 * model.transformer.ln_f.weight
        assert int(model(torch.tensor([PROMPTS[0]]))[0][0, -1].argmax()) >= TOK.n_vocab
    lm = loaded(model)
    for params in [SamplingParams(max_tokens=20, temperature=0), SamplingParams(max_tokens=20, temperature=2.0)]:
        assert max(generate(lm, PROMPTS, params)[0].tokens) < TOK.n_vocab


def test_stop_strings_are_never_emitted(lm):
    full = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=0))[0]
    stop = full.text[20:26]  # a string that straddles token boundaries in the middle of the output
    deltas = [o.text for o in stream(lm, PROMPTS[0], SamplingParams(max_tokens=30, temperature=0, stop=(stop,)))]
    text = "".join(deltas)
    assert text == full.text[:full.text.index(stop)]
    assert all(stop not in d for d in deltas)
    seq = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=0, stop=("zzz-never", stop)))[0]
    assert seq.finish_reason == "stop" and seq.text == text


def test_held_back_text_is_released_when_no_stop_follows(lm):
    full = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=0))[0]
    stop = full.text[-3:] + "\x00"  # its prefix ends the output, so it is held back to the very end
    seq = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=0, stop=(stop,)))[0]
    assert seq.text == full.text and seq.finish_reason == "length"


def test_finish_reasons(lm):
    seq = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=7))[0]
    assert len(seq.tokens) == 7 and seq.finish_reason == "length"
    eot = SamplingParams(max_tokens=7, logit_bias={TOK.eot_id: 100.0})
    seq = generate(lm, [PROMPTS[0]], eot)[0]
    assert seq.tokens == [TOK.eot_id] and seq.finish_reason == "stop" and seq.text == ""
    seq = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=7, logit_bias={TOK.eot_id: 100.0}, ignore_eos=True))[0]
    assert seq.tokens == [TOK.eot_id] * 7 and seq.finish_reason == "length"


def test_context_overflow_slides_instead_of_crashing(lm):
    block = lm.config.block_size
    long_prompt = (PROMPTS[2] * 20)[: 2 * block]
    for prompt in (long_prompt, PROMPTS[0]):
        seq = generate(lm, [prompt], SamplingParams(max_tokens=3 * block, temperature=0.8, seed=1))[0]
        assert len(seq.tokens) == 3 * block and seq.finish_reason == "length"
    # a long prompt keeps its last block - 1 tokens; once the context is full, the newest half is kept
    prompt = PROMPTS[2] * 6
    seq = generate(lm, [prompt], SamplingParams(max_tokens=3, temperature=0))[0]
    kept = prompt[-(block - 1):]
    assert seq.tokens[:2] == greedy_by_recomputation(lm.model, kept, 2)
    assert seq.tokens[2:] == greedy_by_recomputation(lm.model, (kept + seq.tokens[:2])[-(block // 2):], 1)


def test_top_k_1_and_tiny_top_p_and_min_p_1_are_greedy(lm):
    greedy = generate(lm, PROMPTS, SamplingParams(max_tokens=15, temperature=0), max_batch=4)
    for params in [dict(top_k=1), dict(top_p=1e-6), dict(min_p=1.0)]:
        sampled = generate(lm, PROMPTS, SamplingParams(max_tokens=15, temperature=1.5, **params), max_batch=4)
        assert [s.tokens for s in sampled] == [g.tokens for g in greedy], params


def test_top_k_restricts_the_choice(lm):
    with torch.no_grad():
        logits = lm.model(torch.tensor([PROMPTS[1]]))[0][0, -1, :TOK.n_vocab]
    allowed = set(torch.topk(logits, 5).indices.tolist())
    firsts = {generate(lm, [PROMPTS[1]], SamplingParams(max_tokens=1, temperature=5.0, top_k=5, seed=s))[0].tokens[0]
              for s in range(40)}
    assert firsts <= allowed and len(firsts) > 1


def test_penalties_discourage_repetition(lm):
    def distinct(**kw):
        return len(set(generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=40, temperature=0, **kw))[0].tokens))

    plain = distinct()
    assert plain < 20  # the tiny random model loops
    assert distinct(presence_penalty=2.0) > plain
    assert distinct(frequency_penalty=2.0) > plain
    assert distinct(repetition_penalty=1.5) > plain


def test_logprobs(lm):
    seq = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=5, temperature=0, logprobs=3))[0]
    assert len(seq.logprobs) == 5
    with torch.no_grad():
        logits = lm.model(torch.tensor([PROMPTS[0]]))[0][0, -1]
    logits[TOK.n_vocab:] = float("-inf")
    expected = torch.log_softmax(logits, dim=-1)
    first = seq.logprobs[0]
    assert first.token == seq.tokens[0] == first.top[0][0]
    assert first.logprob == pytest.approx(float(expected[first.token]), abs=1e-5)
    assert len(first.top) == 3 and [lp for _, lp in first.top] == sorted([lp for _, lp in first.top], reverse=True)


def test_cancel_frees_the_slot(lm):
    decoder = Decoder(lm, max_batch=2)
    a = decoder.add(PROMPTS[0], SamplingParams(max_tokens=50)).seq
    b = decoder.add(PROMPTS[1], SamplingParams(max_tokens=50, temperature=0)).seq
    decoder.step()
    decoder.cancel(a)
    assert a.finish_reason == "cancelled" and decoder.free_slots == 1 and b.slot == 0
    c = decoder.add(PROMPTS[2], SamplingParams(max_tokens=50)).seq
    while not b.done:
        decoder.step()
    assert b.tokens == run_solo(lm, PROMPTS[1], SamplingParams(max_tokens=50, temperature=0))
    assert not c.done


@pytest.mark.parametrize("penalty", [{"presence_penalty": 0.5}, {"frequency_penalty": 0.5},
                                     {"repetition_penalty": 1.3}])
def test_cancel_outside_inference_mode_after_penalties(lm, penalty):
    # the engine cancels from its loop, outside inference_mode; the penalty rows were made inside it
    decoder = Decoder(lm, max_batch=3)
    a = decoder.add(PROMPTS[0], SamplingParams(max_tokens=50, **penalty)).seq
    b = decoder.add(PROMPTS[1], SamplingParams(max_tokens=50, temperature=0, **penalty)).seq
    decoder.add(PROMPTS[2], SamplingParams(max_tokens=50))
    decoder.step()
    decoder.cancel(a)  # not the last slot: the last sequence moves into it, its penalty rows too
    while not b.done:
        decoder.step()
    assert b.tokens == run_solo(lm, PROMPTS[1], SamplingParams(max_tokens=50, temperature=0, **penalty))
