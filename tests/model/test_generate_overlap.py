"""Overlapped decoding (Decoder(overlap=True), the engine's mode on CUDA): step() launches a step before it reads
back the one before, so its outputs lag a call behind. What each sequence gets must not change: the same tokens,
text, logprobs and finish reasons as a synchronous decoder, streamed in order, nothing after the last.

On the CPU the launch runs to completion at once, but every piece of bookkeeping the overlap needs is exercised:
the device-side last tokens, rows decoded after their sequence finished, slots moved while a step is in flight,
the fallback to synchronous steps for grammars and context slides."""
import pytest
import torch

from checkpoints import tiny_model
from test_generate import PROMPTS, TOK, loaded
from model.checkpoint import Checkpoint
from model.generate import Decoder, generate
from model.grammar import Grammar, compile_grammar
from model.loader import LoadedModel
from model.sampling import SamplingParams


@pytest.fixture(scope="module")
def lm():
    return loaded(tiny_model(seed=5, bias=True))


def requests(lm) -> list[tuple[list[int], SamplingParams]]:
    full = generate(lm, [PROMPTS[0]], SamplingParams(max_tokens=30, temperature=0))[0]
    stop = full.text[12:17]  # ends the third request in the middle of its output
    long_prompt = (PROMPTS[3] * 8)[:lm.config.block_size - 10]  # fills the context: slides after ~10 tokens
    sampled = dict(temperature=0.9, top_k=40, top_p=0.95)
    return [
        (PROMPTS[1], SamplingParams(max_tokens=9, temperature=0)),
        (PROMPTS[2], SamplingParams(max_tokens=25, seed=7, **sampled)),
        (PROMPTS[0], SamplingParams(max_tokens=30, temperature=0, stop=(stop,))),
        (PROMPTS[3], SamplingParams(max_tokens=14, temperature=0, frequency_penalty=0.8, presence_penalty=0.4,
                                    repetition_penalty=1.3)),
        (PROMPTS[0], SamplingParams(max_tokens=11, logprobs=3, seed=3, logit_bias={TOK.encode(" the")[0]: 4.0})),
        (long_prompt, SamplingParams(max_tokens=40, seed=9, min_p=0.05, logprobs=1)),
        (PROMPTS[2], SamplingParams(max_tokens=3, temperature=0)),
        (PROMPTS[1], SamplingParams(max_tokens=30, temperature=0.7, seed=1,
                                    grammar=compile_grammar(Grammar("regex", "[a-z ]{3,20}\\."), TOK, 50304))),
        (PROMPTS[3], SamplingParams(max_tokens=20, seed=2, **sampled)),
    ]


def drive(lm, overlap: bool, reqs, cancel: tuple[int, int] | None = None):
    """The engine's loop: requests join whenever a slot is free, one per call; `cancel` = (request, call)."""
    decoder = Decoder(lm, max_batch=3, overlap=overlap, seed=0)
    streams: dict[int, list] = {}
    seqs, which, pending, calls = {}, {}, list(enumerate(reqs)), 0
    while pending or decoder.running:
        if pending and decoder.free_slots:
            i, (prompt, params) = pending.pop(0)
            out = decoder.add(prompt, params)
            seqs[i], which[out.seq.id], streams[i] = out.seq, i, [out]
        if cancel is not None and calls == cancel[1]:
            decoder.cancel(seqs[cancel[0]])
        for out in decoder.step():
            streams[which[out.seq.id]].append(out)
        calls += 1
    return seqs, streams


def test_overlapped_outputs_equal_synchronous_ones(lm):
    reqs = requests(lm)
    expected, _ = drive(lm, False, reqs)
    seqs, streams = drive(lm, True, reqs)
    for i, seq in seqs.items():
        want = expected[i]
        assert (seq.tokens, seq.text, seq.finish_reason) == (want.tokens, want.text, want.finish_reason), i
        # the same tokens; values equal to fp32 rounding: an overlapped step still decodes a row that finished,
        # and on a CPU the batch's size can change the order of a row's sums (cpu_paths picks per row count)
        assert [(lp.token, [t for t, _ in lp.top]) for lp in seq.logprobs] == \
            [(lp.token, [t for t, _ in lp.top]) for lp in want.logprobs], i
        assert [[lp.logprob, *(v for _, v in lp.top)] for lp in seq.logprobs] == \
            [pytest.approx([lp.logprob, *(v for _, v in lp.top)], rel=1e-5) for lp in want.logprobs], i
        outs = streams[i]
        assert [o.token for o in outs] == seq.tokens and "".join(o.text for o in outs) == seq.text
        assert [o.finish_reason for o in outs] == [None] * (len(outs) - 1) + [seq.finish_reason]
    reasons = {want.finish_reason for want in expected.values()}
    assert reasons == {"stop", "length"}
    assert len(reqs[5][0]) + len(seqs[5].tokens) > lm.config.block_size  # it slid


def test_a_cancelled_sequence_gets_nothing_more_and_the_others_are_unchanged(lm):
    reqs = requests(lm)[:5]
    expected, _ = drive(lm, False, reqs)
    seqs, streams = drive(lm, True, reqs, cancel=(1, 6))
    assert seqs[1].finish_reason == "cancelled"
    assert [o.token for o in streams[1]] == seqs[1].tokens == expected[1].tokens[:len(seqs[1].tokens)]
    for i in (0, 2, 3, 4):
        assert (seqs[i].tokens, seqs[i].text) == (expected[i].tokens, expected[i].text)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs, pinned copies and events need a GPU")
def test_on_cuda_overlapped_steps_equal_synchronous_ones():
    # every row runs from the first step to the last, so both decoders run the same batches: the same kernels,
    # bit for bit, whatever cuBLAS picks for each batch size (on the CPU test, rows come and go)
    model = tiny_model(seed=5, bias=True, block_size=128).to("cuda")
    lm = LoadedModel(model, TOK, Checkpoint("tiny", "test", model.config, {}, TOK), torch.device("cuda"),
                     torch.float32)
    sampled = dict(temperature=0.9, top_k=40, top_p=0.95)
    params = [SamplingParams(max_tokens=60, ignore_eos=True, **kw) for kw in (
        dict(temperature=0), dict(seed=7, **sampled), dict(seed=3, logprobs=3, logit_bias={11: 4.0}),
        dict(temperature=0, frequency_penalty=0.8, presence_penalty=0.4, repetition_penalty=1.3))]
    reqs = list(zip(PROMPTS, params))
    outputs = []
    for overlap in (False, True):
        decoder = Decoder(lm, max_batch=len(reqs), overlap=overlap, seed=0)
        seqs = [decoder.add(*r).seq for r in reqs]
        streamed = []
        while decoder.running:
            streamed += [(o.seq.id - seqs[0].id, o.token) for o in decoder.step()]
        outputs.append(([(s.tokens, s.text, [(lp.token, lp.logprob, lp.top) for lp in s.logprobs]) for s in seqs],
                        sorted(streamed, key=lambda s: s[0])))  # stable: each row's tokens in order
    assert outputs[0] == outputs[1]
