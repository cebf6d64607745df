"""Serving: a validated request -> prompts for the engine -> an OpenAI response dict or an SSE frame stream.

Knows nothing of Flask (vLLM's serving/router split); the blueprint only picks JSON or a streamed body.
Validation that needs the model (token ids, logit_bias ids, the tokenizer's alphabet) happens here, before
anything is submitted, so every such error is a 4xx and never a mid-stream error frame.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from model.grammar import CompiledGrammar, GrammarError, compile_grammar
from model.tokenizer import Tokenizer, TokenizerError

from engine import Failure, Output, Registry, Request, ServedModel

from .. import metrics, sse
from ..errors import APIError, BadRequest, generation_error
from . import responses as r
from .protocol import ChatRequest, CompletionRequest, GenerationRequest

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0  # a comment frame while queued: proxies keep the stream, and a dead client is noticed
HANGUP_POLL_S = 0.25  # how often a non-streamed request looks whether its client is still there


@dataclass
class _ChoiceState:
    started: bool = False  # chat: leading whitespace of the answer is dropped until the first visible text
    chars: int = 0  # of text shown so far: a completion's text_offset
    finish_reason: str | None = None
    n_tokens: int = 0
    cached_tokens: int = 0  # of its prompt, read from the prefix cache
    # what a non-streamed answer collects (a stream sends its deltas and keeps nothing)
    pieces: list[str] = field(default_factory=list)
    tokens: list[r.TokenInfo] = field(default_factory=list)


def encode(tok: Tokenizer, text: str, param: str) -> list[int]:
    """The text's token ids; 400 naming `param` when the model's tokenizer cannot encode it (a character-level
    vocabulary lacks a character)."""
    try:
        return tok.encode(text)
    except TokenizerError as e:
        raise BadRequest(f"The model's tokenizer cannot encode the {param}: {e}", param, "invalid_value") from None


def check_token_ids(tok: Tokenizer, ids: list[int], param: str) -> list[int]:
    """The ids, once each is in the model's vocabulary; 400 naming `param` otherwise."""
    bad = [t for t in ids if not 0 <= t < tok.n_vocab]
    if bad:
        raise BadRequest(f"Token ids must be in [0, {tok.n_vocab}); got {bad[:5]}.", param, "invalid_value")
    return ids


class ClientDisconnected(APIError):
    """The client hung up before its answer was ready (nginx's 499); nobody reads this response."""

    status = 499
    type = "invalid_request_error"


class EventStream:
    """An SSE body for the WSGI server; close() (finished, or the client hung up) cancels what is left."""

    def __init__(self, frames, request: Request):
        self._frames = frames
        self._request = request
        self.on_close: Callable[[], None] | None = None  # the web layer's, e.g. to lift a write timeout

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._frames)

    def close(self) -> None:
        self._frames.close()
        self._request.close()
        if self.on_close is not None:
            self.on_close()


class Serving:
    def __init__(self, registry: Registry):
        self.registry = registry

    def completions(self, req: CompletionRequest, disconnected: Callable[[], bool] | None = None):
        """A response dict, or an EventStream when req.stream; `disconnected` tells whether the client of a
        non-streamed request hung up, so its sequences stop (vLLM's is_disconnected)."""
        model = self.registry.get(req.model)
        prompts = [self._encode(model.tokenizer, p, "prompt") for p in req.prompts]
        return self._run(model, req, prompts, "cmpl", False, disconnected)

    def chat(self, req: ChatRequest, disconnected: Callable[[], bool] | None = None):
        model = self.registry.get(req.model)
        prompt = self._encode(model.tokenizer, model.chat.render(req.messages), "messages")
        return self._run(model, req, [prompt], "chatcmpl", True, disconnected, extra_stop=model.chat.stop)

    @staticmethod
    def _encode(tok: Tokenizer, prompt: str | list[int], param: str) -> list[int]:
        if isinstance(prompt, list):
            return check_token_ids(tok, prompt, param)
        ids = encode(tok, prompt, param)
        if not ids:
            if tok.eot_id is None:
                raise BadRequest(f"The {param} is empty.", param, "invalid_value")
            ids = [tok.eot_id]  # start from the document separator, as GPT-2 samples unconditionally
        return ids

    def _compile(self, model: ServedModel, req: GenerationRequest) -> CompiledGrammar | None:
        if req.grammar is None:
            return None
        width = model.engine.lm.config.vocab_size
        try:
            # off the event loop: the first grammar for a model also builds its vocabulary's index (~0.5 s)
            return self.registry.host.run_blocking(lambda: compile_grammar(req.grammar, model.tokenizer, width))
        except GrammarError as e:
            raise BadRequest(f"The {req.grammar_param} cannot be followed: {e}", req.grammar_param,
                             "invalid_value") from None

    def _run(self, model: ServedModel, req: GenerationRequest, prompts: list[list[int]], prefix: str,
             chat: bool, disconnected: Callable[[], bool] | None, extra_stop: tuple[str, ...] = ()):
        n_vocab = model.tokenizer.n_vocab
        bad = [t for t in req.logit_bias if t >= n_vocab]
        if bad:
            raise BadRequest(f"logit_bias token ids must be below {n_vocab}; got {bad[:5]}.", "logit_bias",
                             "invalid_value")
        limit = self.registry.config.max_prompt_tokens
        if any(len(p) > limit for p in prompts):
            raise BadRequest(f"The prompt is {max(len(p) for p in prompts)} tokens long; the limit is {limit} "
                             f"(MAX_PROMPT_TOKENS).", "messages" if chat else "prompt", "prompt_too_long")
        grammar = self._compile(model, req)
        # choice i*n + j is the j-th candidate for prompt i, as OpenAI numbers them
        seq_prompts = [p for p in prompts for _ in range(req.n)]
        params = [req.sampling_params(j, extra_stop, grammar) for _ in prompts for j in range(req.n)]
        prompt_tokens = sum(len(p) for p in prompts)
        # metrics.track observes the request on its way through (vLLM's metric names; web/metrics.py)
        request = metrics.track(model.engine.submit(seq_prompts, params), model.id, prompt_tokens)
        ctx = _Context(model, req, r.new_id(prefix), r.now(), prompt_tokens, chat)
        if req.stream:
            return EventStream(ctx.frames(request), request)
        try:
            return ctx.collect(request, disconnected)
        finally:
            request.close()


class _Context:
    """One response being built: its id, timestamp and the state of each choice."""

    def __init__(self, model: ServedModel, req: GenerationRequest, rid: str, created: int, prompt_tokens: int,
                 chat: bool):
        self.model, self.req, self.rid, self.created = model, req, rid, created
        self.prompt_tokens = prompt_tokens
        self.chat = chat
        self.logprobs = req.logprobs is not None
        n_choices = req.n * (len(req.prompts) if isinstance(req, CompletionRequest) else 1)
        self.states = [_ChoiceState() for _ in range(n_choices)]

    def _token_info(self, out: Output) -> r.TokenInfo | None:
        if out.logprob is None:
            return None
        tok = self.model.tokenizer

        def piece(t: int) -> tuple[str, list[int]]:
            b = tok.token_bytes(t)
            return b.decode("utf-8", errors="replace"), list(b)

        text, raw = piece(out.logprob.token)
        top = [(*piece(t), lp) for t, lp in out.logprob.top if t < tok.n_vocab]
        return r.TokenInfo(text, raw, out.logprob.logprob, top)

    def _advance(self, out: Output) -> str:
        """Record one output; return the text delta to show."""
        st = self.states[out.choice]
        text = out.text
        if self.chat and not st.started:
            text = text.lstrip()
            st.started = bool(text)
        st.chars += len(text)
        st.n_tokens = out.n_tokens
        st.cached_tokens = out.cached_tokens
        st.finish_reason = out.finish_reason
        return text

    def _usage(self) -> dict:
        # the n choices of a prompt share its prompt tokens (counted once): its first choice's cache hit counts
        cached = sum(s.cached_tokens for s in self.states[::self.req.n])
        return r.usage(self.prompt_tokens, sum(s.n_tokens for s in self.states), cached)

    def collect(self, request: Request, disconnected: Callable[[], bool] | None = None) -> dict:
        next_check = time.monotonic() + HANGUP_POLL_S
        for batch in request.batches(keepalive=HANGUP_POLL_S if disconnected else None):
            if disconnected is not None and time.monotonic() >= next_check:
                if disconnected():
                    raise ClientDisconnected("The client closed the connection.", code="client_closed_request")
                next_check = time.monotonic() + HANGUP_POLL_S
            for out in batch or ():
                if isinstance(out, Failure):
                    raise generation_error(out.error)
                st = self.states[out.choice]
                st.pieces.append(self._advance(out))
                if self.logprobs and (info := self._token_info(out)) is not None:
                    st.tokens.append(info)
        choices = [r.Choice(i, "".join(s.pieces), s.finish_reason, s.tokens if self.logprobs else None)
                   for i, s in enumerate(self.states)]
        build = r.chat_completion if self.chat else r.completion
        return build(self.rid, self.created, self.model.id, choices, self._usage())

    def frames(self, request: Request):
        """The SSE frames: per choice a role chunk (chat), deltas, a finish chunk; then usage and [DONE].

        Coalescing: each wake-up takes every output waiting (Request.batches), so a client that fell behind
        (its socket write blocked while the engine went on) gets, per choice, ONE delta chunk carrying the text
        and logprobs of all its waiting tokens, and the frames of one wake-up go out in one write. A client that
        keeps up still gets a chunk per token: nothing ever waits for more tokens to coalesce."""
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        chunks = sse.ChunkFrames(r.chunk_head(self.rid, self.created, self.model.id, obj))
        try:
            for batch in request.batches(keepalive=KEEPALIVE_S):
                if batch is None:
                    yield sse.KEEPALIVE
                    continue
                failure = batch.pop() if isinstance(batch[-1], Failure) else None
                frames = [frame for choice, outs in _by_choice(batch).items()
                          for frame in self._choice_frames(chunks, choice, outs)]
                if failure is not None:
                    frames.append(sse.frame_bytes(generation_error(failure.error).body()))
                if frames:
                    yield b"".join(frames)
                if failure is not None:
                    break
            else:
                if self.req.include_usage:
                    yield sse.frame_bytes(r.usage_chunk(self.rid, self.created, self.model.id, obj, self._usage()))
        except GeneratorExit:
            raise  # the client hung up: EventStream.close cancels the request
        except Exception as e:  # a bug while formatting: the status is sent already, so report it in-band
            log.exception("stream failed")
            yield sse.frame(APIError(f"Internal error while streaming ({type(e).__name__}).",
                                     code="internal_error").body())
        yield sse.DONE

    def _choice_frames(self, chunks: sse.ChunkFrames, i: int, outs: list[Output]) -> list[bytes]:
        """The frames of one choice's outputs of one wake-up: the role chunk if it is the choice's first
        (chat), one chunk of their joined text and logprobs, and the finish chunk if it finished."""
        frames = []
        if self.chat and self.states[i].n_tokens == 0:  # vLLM: the role chunk comes with the first engine output
            frames.append(chunks.frame(r.chat_chunk_choice(i, {"role": "assistant", "content": ""})))
        texts, infos, offsets = [], [] if self.logprobs else None, []
        for out in outs:
            if infos is not None and (info := self._token_info(out)) is not None:
                infos.append(info)
                offsets.append(self.states[i].chars)  # its text_offset: what was shown before its output
            texts.append(self._advance(out))
        text = "".join(texts)
        if text or infos:
            frames.append(chunks.frame(r.chat_chunk_choice(i, {"content": text}, infos) if self.chat else
                                       r.completion_chunk_choice(i, text, infos, offsets=offsets)))
        finish_reason = outs[-1].finish_reason
        if finish_reason is not None:
            frames.append(chunks.frame(r.chat_chunk_choice(i, {}, finish_reason=finish_reason) if self.chat else
                                       r.completion_chunk_choice(i, "", finish_reason=finish_reason)))
        return frames


def _by_choice(outs: list[Output]) -> dict[int, list[Output]]:
    """A wake-up's outputs per choice, in the order the choices first appear (each choice's in order)."""
    if len(outs) == 1:  # a client that keeps up: the common case
        return {outs[0].choice: outs}
    groups: dict[int, list[Output]] = {}
    for out in outs:
        groups.setdefault(out.choice, []).append(out)
    return groups
