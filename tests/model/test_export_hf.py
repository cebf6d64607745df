"""Export to a Hugging Face directory that transformers loads offline, and import back, without changing a logit."""
import pytest
import torch

from checkpoints import tiny_model, write_char_level, write_nanogpt
from model import CheckpointError, SamplingParams, generate, gpt2_tokenizer, load_model
from model.checkpoint import save_checkpoint
from model.export_hf import export_hf
from model.import_hf import main as import_hf

transformers = pytest.importorskip("transformers")
TOK = gpt2_tokenizer()
TEXT = "Hello world! The quick brown fox, 你好，世界 🦙, and <|endoftext|> too."


@pytest.mark.parametrize("variant", [dict(bias=False), dict(gelu_approximate="tanh")])
def test_export_loads_in_transformers_with_equal_logits(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tiny_model(seed=4, **variant)
    out = export_hf(write_nanogpt(tmp_path / "ckpt.pt", model, prefix="_orig_mod."), tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = tokenizer(TEXT)["input_ids"]
    assert ids == TOK.encode(TEXT)
    assert tokenizer.decode(ids) == TEXT
    idx = torch.tensor([ids])
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, model(idx, targets=idx)[0][..., :TOK.n_vocab],
                                   rtol=1e-5, atol=1e-5)
    assert hf.generation_config.eos_token_id == TOK.eot_id


def test_import_gives_the_same_greedy_text(tmp_path):
    model = tiny_model(seed=6, gelu_approximate="tanh")
    original = tmp_path / "model_00100.pt"
    save_checkpoint(original, model, step=100)  # our layout records the GELU, which nanoGPT's ckpt.pt cannot
    export_hf(original, tmp_path / "hf")
    assert import_hf([str(tmp_path / "hf"), str(tmp_path / "back.pt")]) == 0
    params = SamplingParams(max_tokens=30, temperature=0)
    prompt = [TOK.encode("Once upon a time")]
    back = load_model(tmp_path / "back.pt")
    assert back.checkpoint.format == "build-nanogpt" and back.config.gelu_approximate == "tanh"
    assert generate(back, prompt, params)[0].text == generate(load_model(original), prompt, params)[0].text


def test_char_level_models_cannot_export(tmp_path):
    ckpt, _ = write_char_level(tmp_path)
    with pytest.raises(CheckpointError, match="only GPT-2 BPE"):
        export_hf(ckpt, tmp_path / "hf")
