"""Automatic prefix caching: the keys and values of finished sequences, kept in blocks to skip prefilling them again.

Every chat turn resends the whole conversation, so a new prompt usually starts with a sequence the decoder has
already seen. Positions are learned embeddings, so a key or value is only valid at the position it was computed
at: blocks are kept from position 0 on, in a trie. A block's key is (its parent block, its tokens), exactly, so a
hit is never a hash collision (vLLM hashes a chain of blocks; SGLang keeps a radix tree; this is the two joined
at block granularity). Only full blocks are kept.

Eviction is least recently used, leaves first: a chain is touched from its last block to its first, so a parent
is always more recent than its children and the least recent block has none.
"""
from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field

import torch

from .config import GPTConfig
from .kv_cache import KVCache
from .transfer import to_device

BLOCK = 16  # tokens per block (vLLM's default): a prompt reuses its cached prefix rounded down to this

_ids = itertools.count(1)


@dataclass(eq=False)
class Block:
    key: tuple  # (parent block's id, its BLOCK tokens)
    index: int  # row of the pool
    parent: Block | None
    id: int = field(default_factory=lambda: next(_ids))
    children: int = 0


class PrefixCache:
    """Up to `budget_mb` MiB of cached blocks of one model's keys and values."""

    def __init__(self, config: GPTConfig, budget_mb: float, device: torch.device | str, dtype: torch.dtype):
        self.capacity = int(budget_mb * 2**20) // KVCache.bytes_per_slot(config, BLOCK, dtype)
        # (blocks, layer, k|v, nh, BLOCK, hs); empty, not zeros: memory is only committed as blocks are stored
        self.pool = torch.empty((self.capacity, config.n_layer, 2, config.n_head, BLOCK, config.head_size),
                                device=device, dtype=dtype)
        self.blocks: collections.OrderedDict[tuple, Block] = collections.OrderedDict()  # least recent first
        self.free = list(range(self.capacity))

    def match(self, tokens: list[int]) -> list[Block]:
        """The longest chain of cached blocks that tokens start with, touched as just used."""
        chain, parent = [], 0
        for start in range(0, len(tokens) - BLOCK + 1, BLOCK):
            block = self.blocks.get((parent, tuple(tokens[start:start + BLOCK])))
            if block is None:
                break
            chain.append(block)
            parent = block.id
        self._touch(chain)
        return chain

    def load(self, chain: list[Block], cache: KVCache, slot: int) -> None:
        """Copy a chain's keys and values into positions [0, len(chain) * BLOCK) of a cache slot."""
        if not chain:
            return
        n = len(chain) * BLOCK
        kv = self.pool[self._rows(chain)]  # (n blocks, L, 2, nh, BLOCK, hs): one gather
        cache.positions(slot, 0, n).copy_(kv.permute(1, 2, 3, 0, 4, 5).flatten(3, 4))  # (L, 2, nh, n, hs)

    def store(self, tokens: list[int], cache: KVCache, slot: int) -> None:
        """Keep the full blocks of a slot whose positions [0, len(tokens)) hold the keys and values of tokens."""
        chain = self.match(tokens)
        parent = chain[-1] if chain else None
        new: list[Block] = []
        for start in range(len(chain) * BLOCK, len(tokens) - BLOCK + 1, BLOCK):
            index = self._allocate(protect=parent)
            if index is None:
                break
            block = Block((parent.id if parent else 0, tuple(tokens[start:start + BLOCK])), index, parent)
            if parent is not None:
                parent.children += 1
            self.blocks[block.key] = block
            new.append(block)
            parent = block
        if not new:
            return
        first, n = len(chain) * BLOCK, len(new) * BLOCK
        kv = cache.positions(slot, first, first + n)  # (L, 2, nh, n, hs)
        kv = kv.unflatten(3, (len(new), BLOCK)).permute(3, 0, 1, 2, 4, 5)  # (new blocks, L, 2, nh, BLOCK, hs)
        self.pool.index_copy_(0, self._rows(new), kv)
        self._touch(chain + new)

    def _rows(self, blocks: list[Block]) -> torch.Tensor:
        return to_device([b.index for b in blocks], torch.long, self.pool.device)

    def _touch(self, chain: list[Block]) -> None:
        for block in reversed(chain):  # the first block ends most recent: parents outlive their children
            self.blocks.move_to_end(block.key)

    def _allocate(self, protect: Block | None) -> int | None:
        if self.free:
            return self.free.pop()
        for key, block in self.blocks.items():  # least recent first; it is a leaf (see the module's docstring)
            if block.children == 0 and block is not protect:
                break
        else:
            return None
        del self.blocks[key]
        if block.parent is not None:
            block.parent.children -= 1
        return block.index

