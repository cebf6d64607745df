"""Per-sequence sampling, vectorised over a batch: OpenAI's parameters plus top-k, min-p and repetition penalty.

Order, as vLLM applies it: padded ids masked -> logit_bias -> repetition penalty -> presence/frequency
penalties -> greedy rows take the argmax -> temperature -> top-k, top-p, min-p -> one categorical draw.
The draw runs on the device with no host sync; a seeded row takes its random numbers from its own generator, so
its text does not depend on its batch. Each device gets what is cheap on it: a CPU inverts a row's cumulative
distribution at one uniform number and applies top-p by rejection (_redraw_outside_nucleus), where an
exponential race needs a number per token and sorting 16 rows of 50,304 took 28-31 ms; a GPU runs the race and
sorts, where a scan over the vocabulary is slow and a rejection loop would wait on the device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from .transfer import to_device

if TYPE_CHECKING:
    from .grammar import CompiledGrammar


@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    min_p: float = 0.0
    presence_penalty: float = 0.0  # OpenAI: subtracted once from every token already generated
    frequency_penalty: float = 0.0  # OpenAI: subtracted per occurrence in the generated text
    repetition_penalty: float = 1.0  # CTRL / Hugging Face: divides positive logits of prompt and output tokens
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    logprobs: int | None = None  # None = off; N = the chosen token's logprob and the N most likely
    grammar: CompiledGrammar | None = None  # structured outputs: the text must match it (model/grammar.py)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def penalised(self) -> bool:
        return self.presence_penalty != 0 or self.frequency_penalty != 0 or self.repetition_penalty != 1


@dataclass
class TokenLogprob:
    token: int
    logprob: float
    top: list[tuple[int, float]]  # the most likely tokens and their logprobs, best first


class BatchSampling:
    """The sampling parameters of the rows of a batch, as tensors; rebuilt when the batch changes."""

    def __init__(self, params: list[SamplingParams], generators: list[torch.Generator | None],
                 device: torch.device):
        def col(values, dtype=torch.float32):
            return to_device(values, dtype, device)

        self.params = params
        self.generators = generators
        # the batch changes at nearly every step of a busy server: the columns cross to the device in one copy
        columns = col([[p.temperature, p.top_k, p.top_p, p.min_p, p.presence_penalty, p.frequency_penalty,
                        p.repetition_penalty] for p in params]).T
        (self.temperature, top_k, self.top_p, self.min_p, self.presence, self.frequency,
         self.repetition) = columns.unbind(0)
        self.top_k = top_k.long()  # exact below 2**24; any larger one is clamped to the vocabulary anyway
        self.greedy = self.temperature == 0
        self.all_greedy = all(p.greedy for p in params)
        self.any_greedy = any(p.greedy for p in params)
        sampled = [p for p in params if not p.greedy]
        self.filter_top_k = any(p.top_k > 0 for p in sampled)
        self.filter_top_p = any(p.top_p < 1 for p in sampled)
        # the most tokens a row keeps after top-k, known here rather than read back from the device in the middle
        # of a step: of the rows with top-k, and (0: the whole vocabulary) of those with top-k or top-p
        self.top_k_max = max((p.top_k for p in sampled if p.top_k > 0), default=0)
        self.k_max = 0 if any(p.top_k <= 0 and p.top_p < 1 for p in sampled) else self.top_k_max
        self.filter_min_p = any(p.min_p > 0 for p in sampled)
        self.penalised = any(p.penalised for p in params)
        # logit_bias as (rows, token ids, values) tensors, built once per batch rather than once per step
        entries = [(row, tok, b) for row, p in enumerate(params) for tok, b in p.logit_bias.items()]
        self.bias = None
        if entries:
            rows, tokens, values = zip(*entries)
            self.bias = (col(rows, torch.long), col(tokens, torch.long), col(values))
        self.top_logprobs = max((p.logprobs for p in params if p.logprobs is not None), default=None)
        # every row's token is the argmax of the model's logits, and no other logit is read
        self.argmax_only = self.all_greedy and not entries and not self.penalised and self.top_logprobs is None


def apply_penalties(logits: torch.Tensor, bs: BatchSampling, counts: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """counts (B, V): occurrences in the generated text; seen (B, V): in the prompt or the generated text."""
    rep = bs.repetition[:, None]
    logits = torch.where(seen, torch.where(logits > 0, logits / rep, logits * rep), logits)
    return logits - bs.frequency[:, None] * counts - bs.presence[:, None] * (counts > 0)


def _filter_top_k_top_p(logits: torch.Tensor, bs: BatchSampling, with_top_p: bool) -> torch.Tensor:
    """Mask each row to its top_k tokens, then (with_top_p) to the smallest set holding top_p of their
    probability."""
    V = logits.size(-1)
    top_p = bs.top_p if with_top_p else torch.ones_like(bs.top_p)
    # rows that filter nothing (or are greedy) ask for one value, so they never force a full sort
    filters = ~bs.greedy & ((bs.top_k > 0) | (top_p < 1))
    k_row = torch.where(bs.top_k > 0, bs.top_k.clamp(max=V), V).masked_fill(~filters, 1)  # (B,)
    k_max = bs.k_max if with_top_p else bs.top_k_max
    k_max = min(k_max, V) if k_max else V
    # (B, k_max), high to low; the whole vocabulary by a sort: on an H200 sample() at 128 rows and top_p 0.95 took
    # 1.25 ms against topk's 1.51
    values = torch.topk(logits, k_max, dim=-1).values if k_max < V else logits.sort(dim=-1, descending=True).values
    in_k = torch.arange(k_max, device=logits.device)[None, :] < k_row[:, None]
    values = values.masked_fill(~in_k, float("-inf"))
    probs = F.softmax(values, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability of the better tokens; the first is always kept
    keep = in_k & (before < top_p[:, None])
    keep[:, 0] = True  # the best token, even at top_p 0 or one that float32 rounds to 0 (else index -1 below)
    threshold = values.gather(1, keep.sum(dim=-1, keepdim=True) - 1)  # (B, 1): the worst kept logit
    threshold = threshold.masked_fill(~filters[:, None], float("-inf"))
    return logits.masked_fill(logits < threshold, float("-inf"))


def _draw(probs: torch.Tensor, generators: list[torch.Generator | None], rng: torch.Generator | None) -> torch.Tensor:
    """One token a row with probability proportional to probs (B, V), from each row's generator, else rng. A token
    of probability 0 (masked) is never drawn."""
    # a GPU races: on an H200 the inversion's float64 scan over 50k tokens took 80 us at 32 rows, and sample() at
    # 128 rows and temperature 1 took 0.20 ms with it against 0.10 with the race
    draw = _draw_by_inversion if probs.device.type == "cpu" else _draw_by_race
    return draw(probs, generators, rng)


def _draw_by_race(probs: torch.Tensor, generators: list[torch.Generator | None],
                  rng: torch.Generator | None) -> torch.Tensor:
    """The exponential race (gpt-fast's): argmax(p / q), q ~ Exp(1), a number per token, all in parallel."""
    q = torch.empty_like(probs).exponential_(generator=rng)
    for row, g in enumerate(generators):
        if g is not None:
            q[row].exponential_(generator=g)
    return torch.argmax(probs / q, dim=-1)


def _draw_by_inversion(probs: torch.Tensor, generators: list[torch.Generator | None],
                       rng: torch.Generator | None) -> torch.Tensor:
    """The first token whose cumulative sum reaches x = (1 - u) * the row's sum, u uniform in [0, 1): one number
    a row where the race needs one a token (16 rows' 804,864 exponentials took 13.5 ms on a 2-core CPU). As
    0 < x <= the sum, a token of probability 0 is never the first to reach it. float64: a float32 sum over 50k
    tokens drifts by ~1e-5."""
    u = torch.rand(probs.shape[0], 1, generator=rng, dtype=torch.float64)
    for row, g in enumerate(generators):
        if g is not None:
            u[row] = torch.rand(1, generator=g, dtype=torch.float64)
    cdf = torch.cumsum(probs, dim=-1, dtype=torch.float64)
    tokens = torch.searchsorted(cdf, (1 - u) * cdf[:, -1:]).squeeze(1)
    # V only where the row is NaN (a diverged model's logits): token 0 then, as the argmax over NaN gives
    return tokens.masked_fill_(tokens == probs.shape[-1], 0)


def _redraw_outside_nucleus(probs: torch.Tensor, allowed: torch.Tensor, tokens: torch.Tensor, bs: BatchSampling,
                            rng: torch.Generator | None) -> torch.Tensor:
    """Top-p by rejection, as FlashInfer samples without sorting. probs (B, V): each row's distribution after
    top-k; allowed: what the draw of `tokens` took (probs, less min-p's cut). A drawn token is in the nucleus when
    the tokens more probable than it hold less than top_p of the probability (the best one always is); else no
    token as improbable as it is can be, and the row draws again among the more probable ones. A draw lands in
    the nucleus with probability at least top_p, and the draw kept follows `allowed` within the nucleus: the
    distribution that masking the sorted vocabulary gives (but for tokens tied at its edge, all kept here)."""
    rows = (~bs.greedy & (bs.top_p < 1)).nonzero().squeeze(1)  # the rows still to check, then to draw again
    while len(rows):
        p = probs if len(rows) == len(probs) else probs[rows]  # every row (the first check, often): no copy
        drawn = p.gather(1, tokens[rows, None])  # (rows, 1)
        above = p.masked_fill(p <= drawn, 0.0).sum(dim=-1)
        redraw = (above >= bs.top_p[rows]) & (above > 0)  # none above: the best token, kept even at top_p 0
        rows, p, drawn = rows[redraw], p[redraw], drawn[redraw]
        if len(rows):
            left = allowed[rows].masked_fill(p <= drawn, 0.0)  # the tokens more probable than the one rejected
            tokens[rows] = _draw(left, [bs.generators[i] for i in rows.tolist()], rng)
    return tokens


def sample(logits: torch.Tensor, bs: BatchSampling, rng: torch.Generator | None = None) -> torch.Tensor:
    """Choose one token per row from processed (B, V) float32 logits; returns (B,) token ids."""
    if bs.all_greedy:
        return torch.argmax(logits, dim=-1)
    greedy_tokens = torch.argmax(logits, dim=-1) if bs.any_greedy else None
    temperature = torch.where(bs.greedy, 1.0, bs.temperature)
    logits = logits / temperature[:, None]
    by_rejection = bs.filter_top_p and logits.device.type == "cpu"
    if bs.filter_top_k or (bs.filter_top_p and not by_rejection):
        logits = _filter_top_k_top_p(logits, bs, with_top_p=not by_rejection)
    probs = F.softmax(logits, dim=-1)
    allowed = probs
    if bs.filter_min_p:
        floor = bs.min_p[:, None] * probs.max(dim=-1, keepdim=True).values
        allowed = probs.masked_fill(probs < floor, 0.0)
    sampled = _draw(allowed, bs.generators, rng)
    if by_rejection:
        sampled = _redraw_outside_nucleus(probs, allowed, sampled, bs, rng)
    return sampled if greedy_tokens is None else torch.where(bs.greedy, greedy_tokens, sampled)


def logprob_tensors(raw_logits: torch.Tensor, tokens: torch.Tensor, n_top: int) -> tuple[torch.Tensor, ...]:
    """Log-probabilities of the model's own distribution (before any sampling parameter), as vLLM reports them:
    the chosen tokens' (B,), then the n_top best values and ids (B, n_top), still on the logits' device."""
    logp = F.log_softmax(raw_logits, dim=-1)
    chosen = logp.gather(1, tokens[:, None]).squeeze(1)
    top_vals, top_ids = torch.topk(logp, n_top, dim=-1)
    return chosen, top_vals, top_ids


def token_logprobs(tokens: list[int], chosen: torch.Tensor, top_vals: torch.Tensor,
                   top_ids: torch.Tensor) -> list[TokenLogprob]:
    """logprob_tensors' output, read on the host, one TokenLogprob per row."""
    return [TokenLogprob(t, lp, list(zip(ids, vals)))
            for t, lp, ids, vals in zip(tokens, chosen.tolist(), top_ids.tolist(), top_vals.tolist())]
