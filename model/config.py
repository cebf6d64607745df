"""Model configuration: one dataclass that is a superset of nanoGPT's and build-nanogpt's GPTConfig."""
from __future__ import annotations

from dataclasses import dataclass

GPT2_VOCAB_SIZE = 50257  # 50,000 merges + 256 byte tokens + <|endoftext|>


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64, as nanoGPT trains it
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    # Defaults are class attributes, so a pickled build-nanogpt config (five fields) reads the rest from here.
    bias: bool = True  # nanoGPT's train.py defaults to False; build-nanogpt and Hugging Face always have biases
    # 'none' = exact GELU (nanoGPT since May 2023); 'tanh' = GPT-2's gelu_new (build-nanogpt, Hugging Face)
    gelu_approximate: str = "none"

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.gelu_approximate not in ("none", "tanh"):
            raise ValueError(f"gelu_approximate must be 'none' or 'tanh', not {self.gelu_approximate!r}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head
