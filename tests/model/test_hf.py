"""Our model and transformers' GPT2LMHeadModel compute the same function on the same weights."""
import subprocess
import sys

import pytest
import torch

from checkpoints import tiny_model, write_nanogpt
from model import gpt2_tokenizer
from model.config import GPTConfig
from model.gpt import GPT
from model.hf import hf_config, hf_state_dict

transformers = pytest.importorskip("transformers")
TOK = gpt2_tokenizer()


def as_transformers(model: GPT):
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**hf_config(model.config, TOK.n_vocab)))
    missing, unexpected = hf.load_state_dict(hf_state_dict(model, TOK.n_vocab), strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing)  # the head is tied to wte
    return hf.eval()


@pytest.mark.parametrize("variant", [dict(gelu_approximate="tanh"), dict(gelu_approximate="none"),
                                     dict(bias=False)])
def test_logits_equal_transformers(variant):
    model = tiny_model(seed=5, **variant)
    idx = torch.tensor([TOK.encode("The quick brown fox jumps over the lazy dog")])
    with torch.no_grad():
        ours = model(idx, targets=idx)[0][..., :TOK.n_vocab]
        theirs = as_transformers(model)(idx).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_sample_cli_greedy_equals_transformers_on_124M_shape(tmp_path):
    model = GPT(GPTConfig(vocab_size=50304))  # GPT-2 124M
    model.init_weights(seed=0)
    model.eval()
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    prompt = "The meaning of life is"
    n = 24
    with torch.no_grad():
        ids = as_transformers(model).generate(torch.tensor([TOK.encode(prompt)]), max_new_tokens=n,
                                              min_new_tokens=n, do_sample=False, pad_token_id=TOK.eot_id)
    expected = TOK.decode(ids[0, -n:].tolist())
    out = subprocess.run([sys.executable, "-m", "model.sample", "--checkpoint", str(path), "--prompt", prompt,
                          "--max-tokens", str(n), "--temperature", "0", "--device", "cpu"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == expected + "\n"
