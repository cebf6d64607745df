"""Preallocated key/value buffers: one row ("slot") per sequence, written in place, never concatenated."""
from __future__ import annotations

import torch

from .config import GPTConfig


class LayerCache:
    """One layer's keys and values for a batch of rows: k and v are (B, nh, max_len, hs) views into a KVCache."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor):
        self.k = k
        self.v = v

    def write(self, k: torch.Tensor, v: torch.Tensor, where: Where, kv_len: int):
        """Store new (B, nh, T, hs) keys and values at `where` (see write_index); return the first kv_len positions."""
        if isinstance(where, slice):
            self.k.narrow(2, where.start, k.size(2)).copy_(k)
            self.v.narrow(2, where.start, v.size(2)).copy_(v)
        else:
            rows, input_pos = where
            self.k[rows, :, input_pos] = k.transpose(1, 2)  # indexed view is (B, T, nh, hs)
            self.v[rows, :, input_pos] = v.transpose(1, 2)
        return self.k.narrow(2, 0, kv_len), self.v.narrow(2, 0, kv_len)


Where = slice | tuple[torch.Tensor, torch.Tensor]


def write_index(input_pos: torch.Tensor, start: int | None) -> Where:
    """Where a forward's (B, T) new keys go, worked out once and shared by every layer.

    When every row writes positions start..start+T-1 (a prefill; rows decoding in step), a slice: a plain
    copy, no index tensors. Otherwise (row, position) index tensors, both (B, T), for one index_put per layer.
    """
    B, T = input_pos.shape
    if start is not None:
        return slice(start, start + T)
    return torch.arange(B, device=input_pos.device).unsqueeze(1).expand(B, T), input_pos


class KVCache:
    """Keys and values of every layer for up to `slots` sequences of up to `max_len` tokens."""

    def __init__(self, config: GPTConfig, slots: int, max_len: int, device: torch.device | str,
                 dtype: torch.dtype):
        shape = (slots, config.n_head, max_len, config.head_size)
        self.slots = slots
        self.max_len = max_len
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]

    @staticmethod
    def bytes_per_slot(config: GPTConfig, max_len: int, dtype: torch.dtype) -> int:
        return 2 * config.n_layer * config.n_embd * max_len * torch.tensor([], dtype=dtype).element_size()

    @staticmethod
    def slots_within(config: GPTConfig, dtype: torch.dtype, max_slots: int, budget_mb: int | None) -> int:
        """How many sequences of block_size tokens a cache of budget_mb MiB holds: max_slots, lowered to what the
        budget pays for (at least 1); no budget (0 or None) is no cap."""
        if not budget_mb:
            return max_slots
        per_slot = KVCache.bytes_per_slot(config, config.block_size, dtype)
        return max(1, min(max_slots, (budget_mb << 20) // per_slot))

    def rows(self, start: int, stop: int) -> list[LayerCache]:
        """Per-layer views of slots [start, stop): contiguous slices, so nothing is copied."""
        return [LayerCache(k[start:stop], v[start:stop]) for k, v in zip(self.k, self.v)]

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy the first `length` positions of slot src into slot dst (keeps live slots contiguous)."""
        layers = self.k + self.v
        # one fused copy: a copy per layer would be 2 x n_layer kernel launches for every finished sequence
        torch._foreach_copy_([t[dst, :, :length] for t in layers], [t[src, :, :length] for t in layers])
