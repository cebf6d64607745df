"""What the Decoder (generate.py) keeps per sequence, what a step gives back for each, and a step on its way back
to the host."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from .grammar import Constraint
from .sampling import SamplingParams, TokenLogprob
from .stop import StopMatcher
from .tokenizer import IncrementalDetokenizer

_ids = itertools.count()


@dataclass
class Sequence:
    prompt: list[int]
    params: SamplingParams
    id: int = field(default_factory=lambda: next(_ids))
    tokens: list[int] = field(default_factory=list)  # generated so far
    logprobs: list[TokenLogprob] = field(default_factory=list)
    text: str = ""  # emitted so far (stop strings excluded)
    finish_reason: str | None = None  # 'stop' | 'length' | 'cancelled'
    slot: int = -1
    pos: int = 0  # tokens in the cache; the next one is written here
    window: int = 0  # the cache holds (prompt + tokens)[window:window + pos]
    cached: int = 0  # prompt tokens whose keys and values came from the prefix cache
    generator: torch.Generator | None = None
    detokenizer: IncrementalDetokenizer | None = None
    stopper: StopMatcher | None = None
    constraint: Constraint | None = None  # structured outputs: what the text must match

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


@dataclass
class StepOutput:
    seq: Sequence
    token: int
    text: str  # the new text this token completes (may be empty)
    logprob: TokenLogprob | None
    finish_reason: str | None


@dataclass
class Launched:
    """A step's sampled tokens (and logprobs) on their way to the host, and the sequences of its rows."""
    seqs: list[Sequence]
    tokens: torch.Tensor  # (B,)
    logprobs: tuple[torch.Tensor, ...]  # logprob_tensors' output, or () when no row asks for logprobs
    ready: torch.cuda.Event | None  # CUDA: recorded after the copies to the host; on the CPU they are there

    @staticmethod
    def copy_to_host(seqs: list[Sequence], tokens: torch.Tensor, logprobs: tuple[torch.Tensor, ...]) -> Launched:
        if tokens.device.type != "cuda":
            return Launched(seqs, tokens, logprobs, None)
        # queued behind the step, into pinned memory: the host goes on without waiting for the GPU
        host = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
                for t in (tokens, *logprobs)]
        ready = torch.cuda.Event()
        ready.record()
        return Launched(seqs, host[0], tuple(host[1:]), ready)

    def on_host(self) -> tuple[list[int], tuple[torch.Tensor, ...]]:
        if self.ready is not None:
            self.ready.synchronize()
        return self.tokens.tolist(), self.logprobs
