"""CUDA graphs of the decode step, one per (batch bucket, key-length bucket), captured when the Decoder is built.

A GPT-2 decode step is ~150 small kernels; at batch 1 launching them from Python costs several times what the
GPU spends running them. A graph replays the whole step with one launch. Graphs need static shapes and
addresses, so (as gpt-fast and vLLM do):
- the batch is padded up to a bucket (1, 2, 4, ... max_batch); padded rows decode garbage into their own
  (free) cache slots and their logits are never read;
- attention reads a fixed number of keys (a bucket of the cache length) under an additive mask built inside
  the graph from the positions, so stale keys of shorter rows and unused slots stay invisible;
- inputs are copied into static buffers before each replay, and the logits come out of a static buffer.
Used by model.generate.Decoder when the model is on CUDA; the CPU path never comes here.
"""
from __future__ import annotations

import torch

from .gpt import GPT
from .kv_cache import KVCache, LayerCache

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
KV_BUCKETS = (128, 256, 512, 1024, 2048)


def _buckets(candidates: tuple[int, ...], limit: int) -> list[int]:
    out = [b for b in candidates if b < limit]
    return out + [limit]


class GraphedDecode:
    """Captured decode steps over the rows 0..b-1 of `cache`; `run` replays the smallest graph that fits."""

    def __init__(self, model: GPT, cache: KVCache, max_batch: int):
        self.model = model
        self.cache = cache
        self.device = cache.k[0].device
        self.batch_buckets = _buckets(BATCH_BUCKETS, max_batch)
        self.kv_buckets = _buckets(KV_BUCKETS, cache.max_len)
        n = self.batch_buckets[-1]
        self.idx = torch.zeros((n, 1), dtype=torch.long, device=self.device)
        self.pos = torch.zeros((n, 1), dtype=torch.long, device=self.device)
        self.graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._capture_all()

    @torch.inference_mode()
    def _capture_all(self) -> None:
        pool = torch.cuda.graph_pool_handle()  # one memory pool: the graphs never run at the same time
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        # capture largest first, so the shared pool is sized by the biggest graph and the rest reuse it
        for b in reversed(self.batch_buckets):
            for kv in reversed(self.kv_buckets):
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

    def _forward(self, b: int, caches: list[LayerCache], kv_len: int) -> torch.Tensor:
        # without `start`, forward_cached always builds the mask from the positions and writes the cache
        # through index tensors: nothing depends on the positions' values, so one capture serves the bucket.
        # Any attention kernel: a graph's shape is fixed, so cuDNN's build per shape is paid once, at load, and
        # its kernels made the step at 256 streams fastest (TPOT 3.4 against 5.3-6.5 ms without: PERFORMANCE.md)
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
