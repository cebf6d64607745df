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
        """Store new (B, nh, T, hs) keys and values at `where` (see write_index); return the first kv_len positions,
        in k's dtype (a cache may hold another: KV_CACHE_DTYPE)."""
        if isinstance(where, slice):
            self.k.narrow(2, where.start, k.size(2)).copy_(k)
            self.v.narrow(2, where.start, v.size(2)).copy_(v)
            if where.start == 0 and k.size(2) == kv_len:  # a prompt from position 0: its own keys are all there is,
                return k, v  # not read back (in a bf16 cache, widened again for every layer of every prefill)
        else:
            rows, input_pos = where
            self.k[rows, :, input_pos] = k.transpose(1, 2).to(self.k.dtype)  # indexed view is (B, T, nh, hs)
            self.v[rows, :, input_pos] = v.transpose(1, 2).to(self.v.dtype)
        return self.k.narrow(2, 0, kv_len).to(k.dtype), self.v.narrow(2, 0, kv_len).to(v.dtype)


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
        self.slots = slots
        self.max_len = max_len
        # one tensor, so that a slot's positions in every layer are one view (a move or a prefix-cache copy is one
        # kernel): (n_layer, 2, slots, nh, max_len, hs); k[i] and v[i] are layer i's (slots, nh, max_len, hs)
        self.kv = torch.zeros((config.n_layer, 2, slots, config.n_head, max_len, config.head_size), device=device,
                              dtype=dtype)
        self.k = [layer[0] for layer in self.kv]
        self.v = [layer[1] for layer in self.kv]

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

    def positions(self, slot: int, start: int, stop: int) -> torch.Tensor:
        """Positions [start, stop) of one slot in every layer: a (n_layer, 2, nh, stop - start, hs) view."""
        return self.kv[:, :, slot, :, start:stop]

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy the first `length` positions of slot src into slot dst (keeps live slots contiguous)."""
        self.positions(dst, 0, length).copy_(self.positions(src, 0, length))
