"""Training data for model.train: token streams from text or nanoGPT-style shards, and batches cut from them.

Accepted inputs (detected from the path):
- a UTF-8 text file, or a folder of `*.txt` files (sorted, joined with <|endoftext|>), tokenized on the fly;
- a pre-tokenized shard: nanoGPT's raw uint16 `.bin` or build-nanogpt's `.npy`;
- a nanoGPT data folder holding `train.bin` and `val.bin` (what its prepare.py scripts write), used as the split.

Batches are drawn at random offsets, as nanoGPT does, from a generator seeded by (seed, rank, step, micro-step):
every rank reads different data, and a resumed run sees exactly the batches the uninterrupted run would have.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .tokenizer import Tokenizer

TEXT_SUFFIXES = (".txt", ".text", ".md")


class DataError(ValueError):
    """A data path that cannot be trained on: names the path and the problem."""


@dataclass
class Split:
    train: np.ndarray  # 1-D token ids, uint16 or int64 (memory-mapped for shards)
    val: np.ndarray
    source: str  # how the data was read, for the log


def load_split(path: str | Path, tokenizer: Tokenizer, val_fraction: float = 0.1) -> Split:
    """Read `path` into train and val token streams; the last `val_fraction` of the stream is val."""
    path = Path(path)
    if path.is_dir() and (path / "train.bin").is_file() and (path / "val.bin").is_file():
        return Split(_read_shard(path / "train.bin"), _read_shard(path / "val.bin"),
                     f"nanoGPT split {path}/{{train,val}}.bin")
    tokens, source = load_tokens(path, tokenizer)
    n_val = int(len(tokens) * val_fraction)
    if n_val < 2 or len(tokens) - n_val < 2:
        raise DataError(f"{path}: {len(tokens)} tokens are too few to split into train and val")
    return Split(tokens[:-n_val], tokens[-n_val:], f"{source}, last {val_fraction:.0%} held out for val")


def load_tokens(path: Path, tokenizer: Tokenizer) -> tuple[np.ndarray, str]:
    """One token stream from a text file, a folder of text files, or a .bin/.npy shard."""
    if path.is_file() and path.suffix == ".bin":
        return _read_shard(path), f"uint16 shard {path}"
    if path.is_file() and path.suffix == ".npy":
        return _read_shard(path), f"numpy shard {path}"
    if path.is_file():
        return _encode([path], tokenizer), f"text file {path}"
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise DataError(f"{path}: no text files ({', '.join(TEXT_SUFFIXES)}) and no train.bin/val.bin")
        return _encode(files, tokenizer), f"{len(files)} text files under {path}"
    raise DataError(f"{path}: no such file or directory")


def _read_shard(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        tokens = np.load(path, mmap_mode="r")
        if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
            raise DataError(f"{path}: expected a 1-D array of integer token ids, found {tokens.dtype}{tokens.shape}")
        return tokens
    # nanoGPT's prepare.py: raw little-endian uint16 with no header; a memory map keeps huge shards off the heap
    if path.stat().st_size % 2:
        raise DataError(f"{path}: odd byte count, not a uint16 token shard")
    return np.memmap(path, dtype=np.uint16, mode="r")


def _encode(files: list[Path], tokenizer: Tokenizer) -> np.ndarray:
    ids: list[int] = []
    for i, file in enumerate(files):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{file}: not UTF-8 text ({e})") from None
        if i and tokenizer.eot_id is not None:
            ids.append(tokenizer.eot_id)  # a document boundary, as GPT-2 and nanoGPT's openwebtext use it
        ids.extend(tokenizer.encode(text))
    # uint16 halves the memory of int64 and is nanoGPT's on-disk format; GPT-2's 50257 ids fit
    dtype = np.uint16 if tokenizer.n_vocab <= 2**16 else np.int64
    return np.array(ids, dtype=dtype)


def check_vocab(tokens: np.ndarray, vocab_size: int, name: str) -> None:
    """A token id past the embedding would index out of bounds on the GPU: fail early with a clear message."""
    top = int(tokens.max()) if len(tokens) else 0
    if top >= vocab_size:
        raise DataError(f"{name} holds token id {top}, but the model's vocab_size is {vocab_size}")


class Batches:
    """Random (x, y) windows of `block_size` tokens; y is x shifted by one. Deterministic per (step, micro)."""

    def __init__(self, tokens: np.ndarray, batch_size: int, block_size: int, seed: int, rank: int,
                 device: torch.device, name: str = "train"):
        if len(tokens) < block_size + 1:
            raise DataError(f"the {name} split has {len(tokens)} tokens, fewer than block_size + 1 = "
                            f"{block_size + 1}; lower --block-size or add data")
        self.tokens = tokens
        self.batch_size, self.block_size = batch_size, block_size
        self.seed, self.rank = seed, rank
        self.device = device
        self.salt = {"train": 0, "val": 1}.get(name, 2)

    def get(self, step: int, micro: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.salt, self.rank, step, micro])
        starts = rng.integers(0, len(self.tokens) - self.block_size, size=self.batch_size)
        rows = np.stack([np.asarray(self.tokens[s:s + self.block_size + 1], dtype=np.int64) for s in starts])
        xy = torch.from_numpy(rows)
        if self.device.type == "cuda":
            xy = xy.pin_memory().to(self.device, non_blocking=True)  # overlaps the copy with queued GPU work
        else:
            xy = xy.to(self.device)
        return xy[:, :-1].contiguous(), xy[:, 1:].contiguous()
