"""Structured outputs in the decoder: whatever the model, the text matches the grammar, and rows without one are
left exactly as they were."""
import json
import re

import pytest
import torch

from checkpoints import tiny_model
from test_generate import TOK, loaded
from model.generate import Decoder, generate
from model.grammar import Grammar, GrammarError, compile_grammar, mask_logits
from model.sampling import SamplingParams
from model.tokenizer import CharTokenizer

WIDTH = 50304  # the tiny models' padded vocabulary
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 150},
                                           "happy": {"type": "boolean"}}, "required": ["name", "age", "happy"]}


@pytest.fixture(scope="module")
def lm():
    return loaded(tiny_model(seed=11, bias=False, block_size=256))


def constrained(grammar: Grammar, **kw) -> SamplingParams:
    return SamplingParams(grammar=compile_grammar(grammar, TOK, WIDTH), **kw)


def texts(lm, params: SamplingParams, n: int = 6) -> list[tuple[str, str]]:
    seqs = generate(lm, [TOK.encode("The answer:")] * n, params, max_batch=n)
    return [(s.text, s.finish_reason) for s in seqs]


def test_a_random_model_writes_json_that_validates(lm):
    # a random model never writes JSON by itself: every character here is the grammar's doing
    for text, finish in texts(lm, constrained(Grammar("json", PERSON), max_tokens=80, temperature=1.0, seed=1)):
        person = json.loads(text)
        assert finish == "stop" and list(person) == ["name", "age", "happy"]
        assert len(person["name"]) <= 12 and 0 <= person["age"] <= 150 and isinstance(person["happy"], bool)


def test_end_of_text_is_never_text_inside_the_output():
    constraint = compile_grammar(Grammar("json", PERSON), TOK, WIDTH).constraint()
    for token in TOK.encode('{"name":"Rom'):
        assert not constraint.advance(token)
    allowed = mask_logits(torch.zeros(1, WIDTH), [0], [constraint])[0] > float("-inf")
    assert allowed[TOK.encode("eo")[0]] and not allowed[TOK.eot_id]  # inside a string: anything but the end
    for token in TOK.encode('eo","age":7,"happy":true}'):
        done = constraint.advance(token)
    assert done  # the object is closed: nothing may follow


def test_choice_and_regex(lm):
    for text, finish in texts(lm, constrained(Grammar("choice", ("yes", "no", "maybe so")), max_tokens=20)):
        assert text in ("yes", "no", "maybe so") and finish == "stop"
    # [0-9], not \d: llguidance's \d is Rust's, any Unicode digit, of a newer Unicode than Python's re knows
    for text, _ in texts(lm, constrained(Grammar("regex", r"[0-9]{3}-[0-9]{4}"), max_tokens=20, temperature=1.0)):
        assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", text)


def test_json_object_is_an_object_and_a_cut_short_one_says_length(lm):
    params = constrained(Grammar("json", None), max_tokens=3, temperature=1.0, seed=2)
    for text, finish in texts(lm, params):
        assert text.startswith("{") and finish == "length"


def test_unconstrained_rows_of_a_mixed_batch_are_untouched(lm):
    free = SamplingParams(max_tokens=12, temperature=0)
    prompts = [TOK.encode("Once upon a time"), TOK.encode("In the beginning")]
    alone = [s.tokens for s in generate(lm, prompts, free, max_batch=2)]
    decoder = Decoder(lm, max_batch=3)
    first = decoder.add(prompts[0], free)
    decoder.add(TOK.encode("Yes or no?"), constrained(Grammar("choice", ("yes", "no")), max_tokens=12))
    second = decoder.add(prompts[1], free)
    while decoder.running:
        decoder.step()
    assert [first.seq.tokens, second.seq.tokens] == alone


@pytest.mark.parametrize("grammar,message", [
    (Grammar("json", {"type": "object", "properties": {"a": {"type": "frobnicate"}}}), "frobnicate"),
    (Grammar("json", {"type": "integer", "minimum": 5, "maximum": 1}), "minimum"),
    (Grammar("json", "{not json"), "not valid JSON"),
    (Grammar("json", [1, 2]), "JSON object"),
    (Grammar("regex", "(abc"), "regex"),
])
def test_a_broken_grammar_is_a_grammar_error(grammar, message):
    with pytest.raises(GrammarError, match=re.escape(message)):
        compile_grammar(grammar, TOK, WIDTH)


def test_a_vocabulary_that_cannot_write_json_is_refused_up_front():
    chars = sorted(set("\n !',-.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    tok = CharTokenizer({c: i for i, c in enumerate(chars)}, dict(enumerate(chars)))
    with pytest.raises(GrammarError):
        compile_grammar(Grammar("json", PERSON), tok, len(chars))
    # what it can write still works, and ends without an end-of-text token: when the grammar is complete
    lm = loaded(tiny_model(seed=3, vocab_size=len(chars), bias=False))
    lm.tokenizer = tok
    params = SamplingParams(max_tokens=20, temperature=1.0, seed=4,
                            grammar=compile_grammar(Grammar("choice", ("aye", "nay")), tok, len(chars)))
    for seq in generate(lm, [[0, 1, 2]] * 4, params):
        assert seq.text in ("aye", "nay") and seq.finish_reason == "stop"
