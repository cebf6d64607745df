"""The bundled model (model/assets/bundled/shakespeare-12m.pt): small enough to ship, the default checkpoint, and English."""
from __future__ import annotations

import re

import pytest
import torch

from model.checkpoint import read_checkpoint
from model.generate import generate
from model.loader import load_model
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT, ModelSettings

WORDS_FILE = BUNDLED_CHECKPOINT.parent / "corpus_words.txt"  # written by scripts/fetch_corpus.py --words
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")  # the same pattern as scripts/fetch_corpus.py's WORD


@pytest.fixture(scope="module")
def lm():
    return load_model(BUNDLED_CHECKPOINT, device="cpu")


def test_is_the_default_checkpoint():
    assert ModelSettings.from_env({}).checkpoint == str(BUNDLED_CHECKPOINT)


def test_small_bf16_and_our_own_format():
    assert BUNDLED_CHECKPOINT.stat().st_size <= 30 * 2**20
    ck = read_checkpoint(BUNDLED_CHECKPOINT)
    assert ck.format == "build-nanogpt" and ck.config.gelu_approximate == "none"  # ours: exact GELU, recorded
    assert ck.state_dict["transformer.wte.weight"].dtype == torch.bfloat16
    assert ck.step == 2500 and ck.val_loss < 4.2
    assert ck.tokenizer.name == "gpt2"


def test_loads_on_cpu_in_float32(lm):
    assert lm.device.type == "cpu" and lm.dtype == torch.float32
    assert lm.model.lm_head.weight is lm.model.transformer.wte.weight  # tied weights survive the bf16 file


def test_samples_read_as_english(lm):
    """Of 300 words sampled at temperature 0.8, at least 90% are words of the corpus (Shakespeare)."""
    vocabulary = set(WORDS_FILE.read_text(encoding="utf-8").split())
    # eight rows of 90 tokens: one decode step reads the 38 MB lm_head once for all rows (CPU time is memory time)
    prompts = ["ROMEO:", "JULIET:", "KING HENRY:", "HAMLET:\nTo be", "FALSTAFF:", "PORTIA:", "LEAR:", "OTHELLO:"]
    params = [SamplingParams(max_tokens=90, temperature=0.8, seed=i) for i in range(len(prompts))]
    seqs = generate(lm, [lm.tokenizer.encode(p) for p in prompts], params, max_batch=len(prompts))
    words = [w.lower() for s in seqs for w in WORD.findall(lm.tokenizer.decode(s.tokens))][:300]
    assert len(words) == 300, f"only {len(words)} words in {len(prompts)} x 90 tokens"
    known = sum(w in vocabulary for w in words) / len(words)
    unknown = sorted({w for w in words if w not in vocabulary})
    assert known >= 0.9, f"{known:.1%} corpus words; not in the corpus: {unknown}"

