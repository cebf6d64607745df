"""Decoding against a KV cache: prefill a prompt, then one token per step for every running sequence.

`Decoder` holds up to `max_batch` sequences, each in a cache slot. Sequences join (`add`: prefill and first
token) and leave (finished or `cancel`) between steps; each `step` decodes one token for all of them in one
forward, whatever their lengths and sampling parameters. Live sequences occupy slots 0..B-1, so a step reads
the cache through slices, not copies.

Context policy: positions are learned embeddings, so the cache cannot slide token by token. A prompt longer
than the context keeps its last `max_len - 1` tokens; when a sequence fills the context, its last
`max_len // 2` tokens are prefilled again and generation goes on (nanoGPT crops its window the same way).
"""
from __future__ import annotations

import itertools
import logging
from typing import Iterator

import torch

from .cpu_step import FusedDecode
from .grammar import mask_logits
from .kv_cache import KVCache
from .loader import LoadedModel
from .prefix_cache import BLOCK, PrefixCache
from .sampling import (BatchSampling, SamplingParams, TokenLogprob, apply_penalties, logprob_tensors, sample,
                       token_logprobs)
from .sequence import Launched, Sequence, StepOutput
from .stop import StopMatcher
from .tokenizer import IncrementalDetokenizer
from .transfer import to_device


class Decoder:
    def __init__(self, lm: LoadedModel, max_batch: int = 8, max_len: int | None = None, seed: int | None = None,
                 cuda_graphs: bool = True, prefix_cache_mb: float = 0, overlap: bool = False):
        """overlap: step() returns the outputs of the step before the one it launches (see step)."""
        self.lm = lm
        self.model = lm.model
        self.tokenizer = lm.tokenizer
        self.device = lm.device
        self.max_len = min(max_len or lm.config.block_size, lm.config.block_size)
        self.max_batch = max_batch
        self.cache = KVCache(lm.config, max_batch, self.max_len, lm.device, lm.kv_dtype)
        self.prefix_cache = PrefixCache(lm.config, prefix_cache_mb, lm.device, lm.kv_dtype) if prefix_cache_mb else None
        self.running: list[Sequence] = []  # running[i].slot == i
        self.rng = torch.Generator(device=lm.device)
        self.rng.manual_seed(seed if seed is not None else torch.seed())
        self._tokens = min(self.tokenizer.n_vocab, lm.config.vocab_size)  # ids that can be sampled
        self._vocab_mask: torch.Tensor | None = None  # None when the vocabulary has no padded ids
        if lm.config.vocab_size > self.tokenizer.n_vocab:
            self._vocab_mask = torch.zeros(lm.config.vocab_size, device=lm.device)
            self._vocab_mask[self.tokenizer.n_vocab:] = float("-inf")  # padded ids (50257..50303) are never sampled
        self._counts: torch.Tensor | None = None  # (max_batch, V) generated-token counts, when penalties are used
        self._seen: torch.Tensor | None = None  # (max_batch, V) prompt or generated, for repetition_penalty
        self._batch: BatchSampling | None = None
        self.overlap = overlap
        self._in_flight: Launched | None = None  # overlap: the step launched by the last call, not yet read back
        self._last_token = torch.zeros(max_batch, dtype=torch.long, device=lm.device)  # each slot's newest token
        self.graphs = None  # CUDA: the decode step replayed from captured graphs (model/cuda_graphs.py)
        self.prefill_graphs = None  # CUDA: prefills from position 0, likewise
        self.fused = None  # CPU: the decode step in one call into the C kernel (model/cpu_step.py)
        if self.device.type == "cpu":
            self.fused = FusedDecode.build(self.model, self.cache)
        elif cuda_graphs and self.device.type == "cuda":
            from .cuda_graphs import GraphedDecode, GraphedPrefill
            try:
                self.graphs = GraphedDecode(self.model, self.cache, max_batch)
                self.prefill_graphs = GraphedPrefill(self.model, self.cache, max_batch)
            except RuntimeError:  # a model or kernel that cannot be captured still serves, eagerly
                logging.getLogger(__name__).exception("CUDA graph capture failed; what has no graph runs eagerly")

    @property
    def free_slots(self) -> int:
        return self.max_batch - len(self.running)

    def prompt_length(self, prompt: list[int]) -> int:
        """Tokens a prompt takes in the cache once cropped to the context (add_many groups prompts by it)."""
        return min(len(prompt), self.max_len - 1)

    @torch.inference_mode()
    def add(self, prompt: list[int], params: SamplingParams) -> StepOutput:
        """Prefill a new sequence and sample its first token. The prompt must hold at least one token."""
        return self.add_many([(prompt, params)])[0]

    @torch.inference_mode()
    def add_many(self, requests: list[tuple[list[int], SamplingParams]]) -> list[StepOutput]:
        """Prefill several new sequences of one prompt length in one forward, and sample their first tokens.

        One forward of k prompts costs little more than one on a GPU (and fills the matrix units better on a
        CPU), so a burst of arrivals, or the n choices of one request, joins the batch in one go. Prompts that
        start with a cached prefix load it and prefill only the rest: one forward per length of cached prefix.
        """
        if any(not prompt for prompt, _ in requests):
            raise ValueError("the prompt must hold at least one token")
        if len({self.prompt_length(p) for p, _ in requests}) != 1:
            raise ValueError("add_many takes prompts of one length (after cropping to the context)")
        if self.free_slots < len(requests):
            raise RuntimeError("no free slot: wait for a sequence to finish")
        seqs = []
        for prompt, params in requests:
            seq = Sequence(list(prompt), params, window=max(0, len(prompt) - (self.max_len - 1)))
            if params.seed is not None:
                seq.generator = torch.Generator(device=self.device)
                seq.generator.manual_seed(params.seed)
            seq.detokenizer = IncrementalDetokenizer(self.tokenizer)
            seq.stopper = StopMatcher(params.stop)
            seq.constraint = params.grammar.constraint() if params.grammar is not None else None
            seqs.append(seq)
        chains = {seq.id: self._cached_prefix(seq.prompt[seq.window:]) for seq in seqs}
        order = sorted(seqs, key=lambda s: len(chains[s.id]))  # equal cached lengths on consecutive slots
        for slot, seq in enumerate(order, start=len(self.running)):
            seq.slot = slot
            if seq.params.penalised:
                self._track_penalties(seq)
        bs = BatchSampling([s.params for s in order], [s.generator for s in order], self.device)
        argmax_below = self._argmax_below(bs, order)
        logits = []
        for _, group in itertools.groupby(order, key=lambda s: len(chains[s.id])):
            group = list(group)
            for seq in group:
                if chains[seq.id]:
                    self.prefix_cache.load(chains[seq.id], self.cache, seq.slot)
                seq.cached = len(chains[seq.id]) * BLOCK
            logits.append(self._prefill(group, [s.prompt[s.window + s.cached:] for s in group], group[0].cached,
                                        argmax_below))
        logits = torch.cat(logits)
        self.running.extend(order)  # only now: a prefill that raised leaves no slot taken
        self._batch = None
        outputs = {out.seq.id: out for out in self._read_back(self._sample(order, logits, bs))}
        return [outputs[seq.id] for seq in seqs]

    @torch.inference_mode()
    def step(self) -> list[StepOutput]:
        """Decode one token for every running sequence; returns the outputs the host has read back.

        With `overlap` (the engine on CUDA), a call launches step k and returns the outputs of step k-1, whose
        tokens wait on the device meanwhile: the GPU decodes step k while the host detokenises, matches stops and
        delivers step k-1. A sequence that finishes at k-1 was decoded at k too; that row is dropped. Grammars and
        context slides need every token on the host first: then the step in flight is read back, and the new one
        as well, before the call returns."""
        previous, self._in_flight = self._in_flight, None
        synchronous = not self.overlap or not self.running or self._needs_host_tokens()
        outputs = self._read_back(previous) if synchronous and previous is not None else []
        if not self.running:
            return outputs
        launched = self._launch()
        if synchronous:
            return outputs + self._read_back(launched)
        self._in_flight = launched
        return self._read_back(previous) if previous is not None else []

    def _argmax_below(self, bs: BatchSampling, seqs: list[Sequence]) -> int:
        """For the C step: the ids whose argmax is all the rows' logits serve (the sampleable ones), or 0 where
        other logits are read too."""
        return self._tokens if bs.argmax_only and all(s.constraint is None for s in seqs) else 0

    def _needs_host_tokens(self) -> bool:
        return any(s.constraint is not None or s.pos >= self.max_len for s in self.running)

    def _launch(self) -> Launched:
        for seq in self.running:
            if seq.pos >= self.max_len:
                self._slide(seq)
        seqs = list(self.running)
        B = len(seqs)
        idx = self._last_token[:B, None]  # (B, 1): the tokens sampled last, still on the device
        input_pos = to_device([[s.pos] for s in seqs], torch.long, self.device)  # (B, 1)
        kv_len = max(s.pos for s in seqs) + 1
        if self._batch is None:
            self._batch = BatchSampling([s.params for s in seqs], [s.generator for s in seqs], self.device)
        if self.graphs is not None and self.graphs.fits(B, kv_len):
            logits = self.graphs.run(idx, input_pos, kv_len)
        elif self.fused is not None and self.fused.fits(B):
            logits = self.fused.run(torch.cat([idx, input_pos], dim=1), self._argmax_below(self._batch, seqs))
        else:
            in_step = all(s.pos == kv_len - 1 for s in seqs)  # always so for one sequence
            logits = self.model.forward_cached(idx, input_pos, self.cache.rows(0, B), kv_len,
                                               start=kv_len - 1 if in_step else None)
        for s in seqs:
            s.pos += 1
        return self._sample(seqs, logits, self._batch)

    @torch.inference_mode()  # _release moves penalty rows that add_many created as inference tensors
    def cancel(self, seq: Sequence) -> None:
        """Drop a sequence (its client went away); its slot is free for the next `add`."""
        if not seq.done:
            seq.finish_reason = "cancelled"
            self._release(seq)

    def _cached_prefix(self, window: list[int]) -> list:
        # at least the last prompt token is prefilled again: its logits give the first token
        if self.prefix_cache is None:
            return []
        return self.prefix_cache.match(window[:-1])

    def _prefill(self, seqs: list[Sequence], tokens: list[list[int]], start: int = 0,
                 argmax_below: int = 0) -> torch.Tensor:
        # the rows are consecutive slots, each holding its first `start` positions already: a causal prefill of
        # k rows at positions start..start+T-1
        T = len(tokens[0])
        first = seqs[0].slot
        if start == 0 and self.prefill_graphs is not None and self.prefill_graphs.fits(len(seqs), T, first):
            logits = self.prefill_graphs.run(tokens, first)
        elif self.fused is not None and self.fused.fits_prefill(len(seqs) * T):
            logits = self.fused.prefill(tokens, start, first, argmax_below)
        else:
            idx = torch.tensor(tokens, device=self.device)
            input_pos = torch.arange(start, start + T, device=self.device)[None, :].expand(len(tokens), T)
            logits = self.model.forward_cached(idx, input_pos, self.cache.rows(first, first + len(seqs)),
                                               start + T, start=start)
        for seq in seqs:
            seq.pos = start + T
        return logits

    def _slide(self, seq: Sequence) -> None:
        # the context is full: keep the newest half, re-run it, and decode the pending token after it
        everything = seq.prompt + seq.tokens
        seq.window = len(everything) - self.max_len // 2
        self._prefill([seq], [everything[seq.window:-1]])

    def _sample(self, seqs: list[Sequence], logits: torch.Tensor, bs: BatchSampling) -> Launched:
        # the rows of `seqs` are the consecutive slots first..first+B-1: slices, never index tensors to copy over
        first, B = seqs[0].slot, len(seqs)
        logits = logits.float()  # (B, V)
        if self._vocab_mask is not None:
            logits = logits + self._vocab_mask
        raw = logits
        if bs.bias is not None:  # out of place: raw keeps the model's own distribution for logprobs
            rows_b, tokens_b, values = bs.bias
            logits = logits.index_put((rows_b, tokens_b), values, accumulate=True)
        if bs.penalised:
            logits = apply_penalties(logits, bs, self._counts[first:first + B], self._seen[first:first + B])
        constrained = [i for i, s in enumerate(seqs) if s.constraint is not None]
        if constrained:
            logits = mask_logits(logits, constrained, [seqs[i].constraint for i in constrained])
        tokens = sample(logits, bs, self.rng)
        self._last_token[first:first + B] = tokens
        if self._counts is not None:
            rows = torch.arange(first, first + B, device=self.device)
            self._counts[rows, tokens] += 1
            self._seen[rows, tokens] = True
        lps = logprob_tensors(raw, tokens, bs.top_logprobs) if bs.top_logprobs is not None else ()
        return Launched.copy_to_host(seqs, tokens, lps)

    def _read_back(self, launched: Launched) -> list[StepOutput]:
        tokens, lps = launched.on_host()
        lps = token_logprobs(tokens, *lps) if lps else None
        outputs = [self._emit(s, t, lps[i] if lps else None) for i, (s, t) in enumerate(zip(launched.seqs, tokens))
                   if not s.done]  # finished or cancelled since the launch
        for out in outputs:
            if out.finish_reason is not None:
                self._release(out.seq)
        return outputs

    def _emit(self, seq: Sequence, token: int, logprob: TokenLogprob | None) -> StepOutput:
        params = seq.params
        seq.tokens.append(token)
        if logprob is not None and params.logprobs is not None:
            logprob.top = logprob.top[:params.logprobs]
            seq.logprobs.append(logprob)
        complete = seq.constraint is not None and seq.constraint.advance(token)  # the grammar allows no more
        if token == self.tokenizer.eot_id and (complete or not params.ignore_eos):
            piece, finish = seq.detokenizer.flush(), "stop"
        else:
            piece = seq.detokenizer.push(token)
            finish = "stop" if complete else "length" if len(seq.tokens) >= params.max_tokens else None
            if finish:
                piece += seq.detokenizer.flush()
        text, stopped = seq.stopper.push(piece)
        if stopped:
            finish = "stop"
        elif finish:
            text += seq.stopper.flush()
        seq.text += text
        seq.finish_reason = finish
        return StepOutput(seq, token, text, logprob if params.logprobs is not None else None, finish)

    def _track_penalties(self, seq: Sequence) -> None:
        if self._counts is None:
            V = self.lm.config.vocab_size
            self._counts = torch.zeros(self.max_batch, V, device=self.device)
            self._seen = torch.zeros(self.max_batch, V, dtype=torch.bool, device=self.device)
        self._counts[seq.slot] = 0
        self._seen[seq.slot] = False
        self._seen[seq.slot, to_device(seq.prompt, torch.long, self.device)] = True

    def _release(self, seq: Sequence) -> None:
        if self.prefix_cache is not None:
            self.prefix_cache.store((seq.prompt + seq.tokens)[seq.window:seq.window + seq.pos], self.cache, seq.slot)
        # keep live slots contiguous: the last sequence moves into the freed slot
        slot, last = seq.slot, self.running[-1]
        if last is not seq:
            self.cache.move(last.slot, slot, last.pos)
            self._last_token[slot] = self._last_token[last.slot]
            if self._counts is not None:
                self._counts[slot] = self._counts[last.slot]
                self._seen[slot] = self._seen[last.slot]
            self.running[slot] = last
            last.slot = slot
        self.running.pop()
        seq.slot = -1
        self._batch = None


def stream(lm: LoadedModel, prompt: list[int], params: SamplingParams) -> Iterator[StepOutput]:
    """Generate one sequence, yielding each token as it is decoded."""
    decoder = Decoder(lm, max_batch=1, max_len=min(lm.config.block_size, len(prompt) + params.max_tokens))
    out = decoder.add(prompt, params)
    yield out
    while not out.seq.done:
        (out,) = decoder.step()
        yield out


def generate(lm: LoadedModel, prompts: list[list[int]], params: SamplingParams | list[SamplingParams],
             max_batch: int = 8) -> list[Sequence]:
    """Generate a completion for each prompt, up to `max_batch` at a time; returns the finished sequences."""
    params = params if isinstance(params, list) else [params] * len(prompts)
    decoder = Decoder(lm, max_batch=max_batch)
    pending = list(zip(prompts, params))[::-1]
    done: list[Sequence] = []
    while pending or decoder.running:
        while pending and decoder.free_slots:
            out = decoder.add(*pending.pop())
            done.append(out.seq)
        decoder.step()
    return done
