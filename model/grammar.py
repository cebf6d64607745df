"""Structured outputs: a JSON schema, a regex or a choice of strings that the generated text must match.

llguidance (the library vLLM and SGLang also use) turns a grammar into a per-token mask: at each step every
constrained row of the batch gets the set of tokens that keep its text a prefix of a match, and its logits of
all others become -inf before sampling. Unconstrained rows pay nothing. Chosen over xgrammar, measured in our
sampler (PERFORMANCE.md): it compiles a schema in about 1 ms against 15 (each request may bring a new one), and
adds 8 MB to an install where xgrammar adds 1.2 GB (triton, transformers); xgrammar fills masks faster, which is
small beside the rest of a step.

JSON is compact (no free whitespace): a small model left free to emit whitespace can emit it forever, and a
newline could meet a chat format's stop string. An object schema that says nothing of additionalProperties
allows none, as vLLM's default backend (xgrammar's strict mode) has it: a small model otherwise goes on adding
keys. A generation ends when the grammar is complete: the moment no token can extend the match, or when the
model picks end-of-text where the grammar allows it.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Literal

import llguidance
import torch

from .tokenizer import Tokenizer
from .transfer import to_device

log = logging.getLogger(__name__)
BITS = 32  # llguidance's mask: one bit per token, 32 tokens per int32


def mask_words(width: int) -> int:
    """int32 words of a mask over `width` tokens."""
    return (width + BITS - 1) // BITS


class GrammarError(ValueError):
    """A schema or regex that cannot be compiled, or one this model's vocabulary cannot write."""


@dataclass(frozen=True)
class Grammar:
    """What the output must match. json: a JSON Schema (a dict or its text), None for any JSON object; regex: a
    pattern the whole output matches; choice: one of the strings, exactly."""

    kind: Literal["json", "regex", "choice"]
    source: object

    def spec(self) -> str:
        """llguidance's grammar for it (canonical text: equal grammars share a compiled matcher)."""
        if self.kind == "json":
            schema = self.source if self.source is not None else {"type": "object"}
            if isinstance(schema, str):
                try:
                    schema = json.loads(schema)
                except ValueError as e:
                    raise GrammarError(f"the schema is not valid JSON: {e}") from None
            if not isinstance(schema, (dict, bool)):
                raise GrammarError("the schema must be a JSON object")
            return llguidance.LLMatcher.grammar_from_json_schema(
                json.dumps(_closed(schema)), overrides={"whitespace_flexible": False})
        if self.kind == "regex":
            return llguidance.LLMatcher.grammar_from_regex(self.source)
        return llguidance.grammar_from("choice", json.dumps(list(self.source)))


def _closed(schema: object) -> object:
    """A copy of the schema where objects with properties and no word on additionalProperties allow none."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if ("properties" in out or "patternProperties" in out) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Constraint:
    """One sequence's matcher: the tokens it allows next, and whether its match is complete."""

    def __init__(self, matcher: llguidance.LLMatcher, width: int):
        self.matcher = matcher
        self.words = mask_words(width)

    def advance(self, token: int) -> bool:
        """Take the sampled token; True when the output is complete (nothing may follow it)."""
        if not self.matcher.consume_token(token):
            # the mask allowed it, so only a library bug lands here: end this sequence, not the whole batch
            log.error("the grammar refused token %d it allowed: %s", token, self.matcher.get_error())
            return True
        return self.matcher.is_stopped()


@functools.lru_cache(maxsize=8)
def lltokenizer(tokenizer: Tokenizer, width: int) -> llguidance.LLTokenizer:
    """The vocabulary as llguidance sees it, `width` tokens wide (the logits' width, at least n_vocab + 1).

    Ids past the tokenizer's own are special tokens no grammar allows (the embedding's padding rows); a
    vocabulary without end-of-text (nanoGPT's character-level ones) gets one there, which ends nothing: the
    generation stops when the grammar is complete instead."""
    tokens = [tokenizer.token_bytes(i) for i in range(tokenizer.n_vocab)]
    eos = tokenizer.eot_id if tokenizer.eot_id is not None else tokenizer.n_vocab
    tokens += [b"<|pad%d|>" % i for i in range(len(tokens), width)]

    def encode(text: bytes | str) -> list[int]:
        # llguidance tokenizes the text a grammar fixes; when a character-level vocabulary lacks a character of
        # it, TokenizerError leaves the matcher in its error state, and compile_grammar says so
        return tokenizer.encode(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)

    class Vocabulary:  # what llguidance.TokenizerWrapper reads
        eos_token_id, bos_token_id = eos, None
        # <|endoftext|> is a special token, never text: its 13 bytes would fit inside a JSON string, where the
        # decoder would take it as the end of the answer (tests/model/test_grammar.py checks the mask)
        special_token_ids = sorted({eos, *range(tokenizer.n_vocab, width)})

        def __init__(self):
            self.tokens = tokens

        def __call__(self, text):
            return encode(text)

    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(Vocabulary()))


@functools.lru_cache(maxsize=64)
def _prototype(tokenizer: Tokenizer, width: int, spec: str) -> llguidance.LLMatcher:
    matcher = llguidance.LLMatcher(lltokenizer(tokenizer, width), spec, log_level=0)
    if matcher.is_error():
        raise GrammarError(matcher.get_error())
    first = torch.zeros(1, mask_words(width), dtype=torch.int32)
    matcher.unsafe_compute_mask_ptr(first.data_ptr(), first.numel() * 4)
    if not unpack(first, tokenizer.n_vocab).any():
        raise GrammarError("this model's vocabulary has no token that can start the output")
    return matcher


def compile_grammar(grammar: Grammar, tokenizer: Tokenizer, width: int) -> CompiledGrammar:
    """Check and compile a grammar for one model's vocabulary; GrammarError says what is wrong with it."""
    width = max(width, tokenizer.n_vocab + 1)  # room for a virtual end-of-text (see lltokenizer)
    try:
        spec = grammar.spec()
        _prototype(tokenizer, width, spec)
    except GrammarError:
        raise
    except (ValueError, TypeError) as e:  # llguidance's own report of a schema or regex it cannot compile
        raise GrammarError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    except BaseException as e:  # a panic inside the library (pyo3's PanicException is a BaseException)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise GrammarError(f"the grammar cannot be compiled ({type(e).__name__})") from None
    return CompiledGrammar(tokenizer, width, spec)


@dataclass(frozen=True)
class CompiledGrammar:
    """A grammar checked against one vocabulary: every sequence that uses it gets its own Constraint."""

    tokenizer: Tokenizer
    width: int
    spec: str

    def constraint(self) -> Constraint:
        return Constraint(_prototype(self.tokenizer, self.width, self.spec).deep_copy(), self.width)


@functools.cache
def _bits(device: torch.device) -> torch.Tensor:
    """(256, 8) bool: the bits of each byte value, lowest first."""
    return ((torch.arange(256, device=device)[:, None] >> torch.arange(8, device=device)) & 1).bool()


def unpack(bitmask: torch.Tensor, vocab: int) -> torch.Tensor:
    """(rows, words) int32 bitmask -> (rows, vocab) bool, on the bitmask's device: bit j of word w is token
    32w + j. Looked up a byte at a time (little-endian: byte b of word w holds tokens 32w + 8b ..), one gather
    instead of shifting every word 32 times."""
    return _bits(bitmask.device)[bitmask.view(torch.uint8).long()].flatten(1)[:, :vocab]


def mask_logits(logits: torch.Tensor, rows: list[int], constraints: list[Constraint]) -> torch.Tensor:
    """logits (B, V) with -inf wherever the constraint of row rows[i] forbids a token (out of place)."""
    V, words, device = logits.size(1), constraints[0].words, logits.device
    # pinned on CUDA: the copy below is queued behind the step rather than waiting for it
    bitmask = torch.empty(len(rows), words, dtype=torch.int32, pin_memory=device.type == "cuda")
    for i, c in enumerate(constraints):  # one by one: llguidance's thread pool was slower on 2 cores (PERFORMANCE.md)
        c.matcher.unsafe_compute_mask_ptr(bitmask[i].data_ptr(), words * 4)
    allowed = unpack(bitmask.to(device, non_blocking=True), V)
    if len(rows) == logits.size(0):
        return logits.masked_fill(~allowed, float("-inf"))
    index = to_device(rows, torch.long, device)
    return logits.index_put((index,), logits[index].masked_fill(~allowed, float("-inf")))
