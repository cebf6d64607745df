"""GPT-2 BPE offline, and streaming text that never splits a UTF-8 character."""
import hashlib
import subprocess
import sys

import pytest

from model.tokenizer import (ASSETS, ENCODER_JSON_SHA256, VOCAB_BPE_SHA256, CharTokenizer, IncrementalDetokenizer,
                             TokenizerError, gpt2_tokenizer)


def test_shipped_files_are_openais():
    assert hashlib.sha256((ASSETS / "vocab.bpe").read_bytes()).hexdigest() == VOCAB_BPE_SHA256
    assert hashlib.sha256((ASSETS / "encoder.json").read_bytes()).hexdigest() == ENCODER_JSON_SHA256
    assert "Modified MIT License" in (ASSETS / "LICENSE").read_text()


def test_known_ids():
    tok = gpt2_tokenizer()
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.encode("<|endoftext|>") == [50256] == [tok.eot_id]
    assert tok.n_vocab == 50257
    assert tok.encode("你好，世界") == [19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234]


def test_no_network_needed():
    # a proxy that refuses everything: building the tokenizer must not try to download anything
    code = "from model.tokenizer import gpt2_tokenizer; print(gpt2_tokenizer().encode('Hello world'))"
    env = {"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "TIKTOKEN_CACHE_DIR": "", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[15496, 995]"


@pytest.mark.parametrize("text", ["你好，世界！今天天气很好。", "emoji 🦙🚀 and Ünïcödé", "日本語のテキスト"])
def test_streaming_is_byte_exact(text):
    tok = gpt2_tokenizer()
    ids = tok.encode(text)
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.push(t) for t in ids] + [detok.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)  # no piece ever held half a character
    assert any(p == "" for p in pieces)  # some tokens really did end mid-character


def test_unfinished_character_at_the_end_is_replaced():
    tok = gpt2_tokenizer()
    first_half = tok.encode("你")[:1]
    detok = IncrementalDetokenizer(tok)
    assert detok.push(first_half[0]) == ""
    assert detok.flush() == "\ufffd"


def test_char_tokenizer():
    tok = CharTokenizer({"a": 0, "b": 1, "\n": 2}, {0: "a", 1: "b", 2: "\n"})
    assert tok.encode("ab\n") == [0, 1, 2] and tok.decode([1, 0]) == "ba"
    assert tok.eot_id is None
    with pytest.raises(TokenizerError, match="'xz'"):
        tok.encode("axbz")
