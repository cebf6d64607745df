"""Tokenizers: GPT-2 BPE from files shipped in the repo (no network), and nanoGPT's character-level vocabularies."""
from __future__ import annotations

import codecs
import functools
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets" / "gpt2"
# the sha256 sums tiktoken expects for OpenAI's files (tiktoken_ext/openai_public.py)
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
ENDOFTEXT = "<|endoftext|>"


class TokenizerError(ValueError):
    """Text that the tokenizer cannot encode (a character outside a char-level vocabulary)."""


class Tokenizer:
    """What the rest of the code needs of a tokenizer."""

    name: str
    n_vocab: int  # ids >= n_vocab are padding rows of the embedding and must never be sampled
    eot_id: int | None  # <|endoftext|>, or None when the vocabulary has no end-of-text token

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token: int) -> bytes:
        raise NotImplementedError

    def decode(self, tokens: list[int]) -> str:
        return b"".join(self.token_bytes(t) for t in tokens).decode("utf-8", errors="replace")


class GPT2Tokenizer(Tokenizer):
    """OpenAI's GPT-2 byte-pair encoding through tiktoken, built from model/assets/gpt2."""

    name = "gpt2"

    def __init__(self) -> None:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        from tiktoken_ext.openai_public import r50k_pat_str  # the gpt2 encoding's pre-tokenizer

        ranks = data_gym_to_mergeable_bpe_ranks(
            str(ASSETS / "vocab.bpe"), str(ASSETS / "encoder.json"),
            vocab_bpe_hash=VOCAB_BPE_SHA256, encoder_json_hash=ENCODER_JSON_SHA256)
        self.eot_id = len(ranks)  # 50256
        self.n_vocab = self.eot_id + 1
        self._enc = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                      special_tokens={ENDOFTEXT: self.eot_id}, explicit_n_vocab=self.n_vocab)

    def encode(self, text: str) -> list[int]:
        # <|endoftext|> in the text is the document separator the model was trained with, as in nanoGPT's sample.py
        return self._enc.encode(text, allowed_special={ENDOFTEXT})

    def token_bytes(self, token: int) -> bytes:
        return self._enc.decode_single_token_bytes(token)

    def decode(self, tokens: list[int]) -> str:
        return self._enc.decode(tokens, errors="replace")


class CharTokenizer(Tokenizer):
    """nanoGPT's character-level vocabulary from a meta.pkl: {'vocab_size', 'stoi', 'itos'}."""

    name = "char"
    eot_id = None

    def __init__(self, stoi: dict[str, int], itos: dict[int, str]):
        self.stoi, self.itos = stoi, itos
        self.n_vocab = len(itos)

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise TokenizerError(f"characters not in the model's vocabulary: {''.join(unknown)!r}")
        return [self.stoi[c] for c in text]

    def token_bytes(self, token: int) -> bytes:
        return self.itos[token].encode("utf-8")


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer() -> GPT2Tokenizer:
    """The GPT-2 tokenizer, built once per process (about 0.4 s)."""
    return GPT2Tokenizer()


class IncrementalDetokenizer:
    """Turns a stream of token ids into text deltas that never split a UTF-8 character.

    A GPT-2 token can hold part of a multi-byte character (one Chinese character often spans two tokens),
    so bytes are fed through an incremental UTF-8 decoder that keeps an unfinished character back.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token: int) -> str:
        return self._decoder.decode(self.tokenizer.token_bytes(token))

    def flush(self) -> str:
        """Whatever is held back at the end (an unfinished character becomes U+FFFD)."""
        return self._decoder.decode(b"", final=True)
