"""CUDA graphs of the decode step, one per (batch bucket, key-length bucket), and of the prefill of prompts from
position 0, one per (rows bucket, length bucket), captured when the Decoder is built.

A GPT-2 decode step is ~150 small kernels; at batch 1 launching them from Python costs several times what the
GPU spends running them. A graph replays the whole step with one launch. Graphs need static shapes and
addresses, so (as gpt-fast and vLLM do):
- the batch is padded up to a bucket (1, 2, 4, ... max_batch); padded rows decode garbage into their own
  (free) cache slots and their logits are never read;
- attention reads a fixed number of keys (a bucket of the cache length) under an additive mask built inside
  the graph from the positions, so stale keys of shorter rows and unused slots stay invisible;
- inputs are copied into static buffers before each replay, and the logits come out of a static buffer.
A prefill is ~120 launches: ~4 ms of host time for 0.7 ms of GPU work on an H200, and a busy server prefills at
almost every step. Its graphs pad the prompts to a length bucket (causal attention: padding after a prompt changes
nothing before it) and their count to a rows bucket; the logits come from each prompt's own last token.
Batches up to FUSED_MAX_BATCH capture model/cuda_step.py's Triton step (~65 kernels) instead of PyTorch's, when
Triton is installed and compiles it here; one graph then serves every key length, since its attention reads each
row's own keys. Used by model.generate.Decoder when the model is on CUDA; the CPU path never comes here.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from .gpt import GPT
from .kv_cache import KVCache, LayerCache

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
KV_BUCKETS = (128, 256, 512, 1024, 2048)
PREFILL_ROWS = (1, 2, 4, 8, 16)
PREFILL_LENGTHS = (16, 32, 64, 128, 256, 512, 1024, 2048)
# prefill graphs hold up to this many tokens (the engine's prefill budget on CUDA), or one prompt of any length
PREFILL_GRAPH_TOKENS = 2048
FUSED_MAX_BATCH = 4  # the Triton step up to here: PyTorch's is as fast at 8 rows on an H200 (bench/fused_step.py)
log = logging.getLogger(__name__)


def _buckets(candidates: tuple[int, ...], limit: int) -> list[int]:
    out = [b for b in candidates if b < limit]
    return out + [limit]


def fused_step(model: GPT, cache: KVCache) -> Callable | None:
    """model/cuda_step.py's decode_step, if Triton is installed, the step computes this model, and its kernels
    compile here (a first step into slot 0, which every prefill overwrites); else None."""
    try:
        from . import cuda_step
        if not cuda_step.supports(model):
            return None
        zero = torch.zeros((1, 1), dtype=torch.long, device=cache.k[0].device)
        cuda_step.decode_step(model, zero, zero, cache.rows(0, 1))
        return cuda_step.decode_step
    except Exception:  # no Triton, or no C compiler for its launchers: PyTorch's step serves, graphed as ever
        log.warning("the Triton decode step is unavailable; decoding with PyTorch's", exc_info=True)
        return None


class GraphedDecode:
    """Captured decode steps over the rows 0..b-1 of `cache`; `run` replays the smallest graph that fits."""

    def __init__(self, model: GPT, cache: KVCache, max_batch: int, fused: bool = True):
        """fused=False captures PyTorch's step at every batch size."""
        self.model = model
        self.cache = cache
        self.device = cache.k[0].device
        self.batch_buckets = _buckets(BATCH_BUCKETS, max_batch)
        self.kv_buckets = _buckets(KV_BUCKETS, cache.max_len)
        n = self.batch_buckets[-1]
        self.idx = torch.zeros((n, 1), dtype=torch.long, device=self.device)
        self.pos = torch.zeros((n, 1), dtype=torch.long, device=self.device)
        self.graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        with torch.inference_mode():
            self.fused = fused_step(model, cache) if fused else None
        self._capture_all()

    @torch.inference_mode()
    def _capture_all(self) -> None:
        pool = torch.cuda.graph_pool_handle()  # one memory pool: the graphs never run at the same time
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        # capture largest first, so the shared pool is sized by the biggest graph and the rest reuse it
        for b in reversed(self.batch_buckets):
            for kv in reversed(self.kv_buckets):
                if self._is_fused(b) and kv != self.kv_buckets[-1]:
                    self.graphs[(b, kv)] = self.graphs[(b, self.kv_buckets[-1])]
                    continue
                caches = self.cache.rows(0, b)
                with torch.cuda.stream(stream):
                    # warm up on a side stream (cuBLAS handles, SDPA kernel choice) before capturing
                    for _ in range(2):
                        self._forward(b, caches, kv)
                torch.cuda.current_stream(self.device).wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool, stream=stream):
                    logits = self._forward(b, caches, kv)
                self.graphs[(b, kv)] = (graph, logits)
        torch.cuda.synchronize(self.device)
        # the warm-up and capture wrote into the cache's slots at position 0: harmless, every prefill overwrites

    def _is_fused(self, b: int) -> bool:
        return self.fused is not None and b <= FUSED_MAX_BATCH

    def _forward(self, b: int, caches: list[LayerCache], kv_len: int) -> torch.Tensor:
        if self._is_fused(b):
            return self.fused(self.model, self.idx[:b], self.pos[:b], caches)
        # without `start`, forward_cached always builds the mask from the positions and writes the cache
        # through index tensors: nothing depends on the positions' values, so one capture serves the bucket.
        # Any attention kernel: a graph's shape is fixed, so cuDNN's build per shape is paid once, at load, and
        # its kernels made the step at 256 streams fastest (TPOT 2.9-3.4 against 5.3-6.5 ms without: PERFORMANCE.md)
        return self.model.forward_cached(self.idx[:b], self.pos[:b], caches, kv_len, attention=None)

    def fits(self, batch: int, kv_len: int) -> bool:
        return batch <= self.batch_buckets[-1] and kv_len <= self.kv_buckets[-1]

    def run(self, idx: torch.Tensor, input_pos: torch.Tensor, kv_len: int) -> torch.Tensor:
        """Logits (B, vocab) for one new token per row; idx and input_pos are (B, 1) on the device."""
        B = idx.size(0)
        b = next(x for x in self.batch_buckets if x >= B)
        kv = next(x for x in self.kv_buckets if x >= kv_len)
        self.idx[:B].copy_(idx)
        self.pos[:B].copy_(input_pos)
        if b > B:
            # padded rows write position 0 of their own free slots, which a later prefill overwrites
            self.pos[B:b].zero_()
        graph, logits = self.graphs[(b, kv)]
        graph.replay()
        return logits[:B]


class SlotWrites(LayerCache):
    """A layer's cache for a prefill from position 0 into the slots `slots` (a (rows,) tensor): the new keys and
    values are written there, and attention reads them alone (a prompt from position 0 sees only itself)."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, slots: torch.Tensor):
        super().__init__(k, v)
        self.slots = slots

    def write(self, k: torch.Tensor, v: torch.Tensor, where, kv_len: int):
        self.k.narrow(2, 0, k.size(2)).index_copy_(0, self.slots, k)
        self.v.narrow(2, 0, v.size(2)).index_copy_(0, self.slots, v)
        return k, v


def prefill_into_slots(model: GPT, cache: KVCache, inputs: torch.Tensor) -> torch.Tensor:
    """Prefill padded prompts from position 0, as a prefill graph replays it. inputs (rows, T + 2): each row's
    token ids padded to T, then its slot, then the position of its last real token (the same in every row).
    Returns the logits at that position, (rows, vocab)."""
    rows, T = inputs.size(0), inputs.size(1) - 2
    idx, slots, last = inputs[:, :T], inputs[:, T], inputs[0, T + 1:]
    pos = torch.arange(T, device=inputs.device)[None, :].expand(rows, T)
    caches = [SlotWrites(k, v, slots) for k, v in zip(cache.k, cache.v)]
    return model.forward_cached(idx, pos, caches, T, start=0, last=last)


class GraphedPrefill:
    """Captured prefills of 1..16 prompts of one length from position 0, into consecutive free slots."""

    def __init__(self, model: GPT, cache: KVCache, max_rows: int, capture: bool = True):
        """capture=False runs each bucket's computation eagerly instead (tests, on the CPU)."""
        self.model = model
        self.cache = cache
        device = cache.k[0].device
        lengths = [t for t in PREFILL_LENGTHS if t <= min(cache.max_len, model.config.block_size)]
        rows = [r for r in PREFILL_ROWS if r <= max_rows]
        self.buckets = [(r, t) for r in rows for t in lengths if r == 1 or r * t <= PREFILL_GRAPH_TOKENS]
        self.inputs = {b: torch.zeros((b[0], b[1] + 2), dtype=torch.long, device=device) for b in self.buckets}
        self.graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        if capture:
            self._capture_all()

    @torch.inference_mode()
    def _capture_all(self) -> None:
        device = self.cache.k[0].device
        pool = torch.cuda.graph_pool_handle()
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        for b in sorted(self.buckets, key=lambda b: -b[0] * b[1]):  # the largest first sizes the pool
            inputs = self.inputs[b]
            inputs[:, b[1]] = torch.arange(b[0])  # slots 0..rows-1, free at load: any will do to capture
            with torch.cuda.stream(stream):
                prefill_into_slots(self.model, self.cache, inputs)  # warm-up, as for the decode graphs
            torch.cuda.current_stream(device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, stream=stream):
                logits = prefill_into_slots(self.model, self.cache, inputs)
            self.graphs[b] = (graph, logits)
        torch.cuda.synchronize(device)

    def _bucket(self, rows: int, length: int) -> tuple[int, int] | None:
        return next(((r, t) for r, t in self.buckets if r >= rows and t >= length), None)

    def fits(self, rows: int, length: int, first: int) -> bool:
        """Whether a graph takes `rows` prompts of `length` tokens into slots first.. (its padded rows write
        garbage into the free slots after them, so those must exist)."""
        b = self._bucket(rows, length)
        return b is not None and first + b[0] <= self.cache.slots

    def run(self, tokens: list[list[int]], first: int) -> torch.Tensor:
        """Logits (rows, vocab) at each prompt's last token; the prompts (of one length) go to slots first.."""
        rows, T = len(tokens), len(tokens[0])
        b = self._bucket(rows, T)
        pad = [0] * (b[1] - T)
        host = [row + pad + [first + i, T - 1] for i, row in enumerate(tokens)]
        host += [[0] * b[1] + [first + i, T - 1] for i in range(rows, b[0])]
        self.inputs[b].copy_(torch.tensor(host))  # one copy to the device for every input
        if b not in self.graphs:  # not captured
            return prefill_into_slots(self.model, self.cache, self.inputs[b])[:rows]
        graph, logits = self.graphs[b]
        graph.replay()
        return logits[:rows]
