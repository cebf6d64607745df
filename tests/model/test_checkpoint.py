"""Every checkpoint format loads to the same function; every bad file gets one clear CheckpointError."""
import json
import pickle
import zipfile

import pytest
import torch

from checkpoints import (CHARS, tiny_model, write_build_nanogpt, write_char_level, write_hf,
                         write_nanogpt)
from model import CheckpointError, load_model, read_checkpoint
from model.config import GPTConfig

IDX = torch.tensor([[464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]])  # "The quick brown fox..."


def logits_of(model, idx=IDX):
    with torch.no_grad():
        return model(idx, targets=idx)[0]


def assert_same_function(path, reference, idx=IDX, **kw):
    lm = load_model(path, device="cpu", **kw)
    ours, ref = logits_of(lm.model, idx), logits_of(reference, idx)
    n = min(ours.size(-1), ref.size(-1))  # Hugging Face files carry 50257 rows, nanoGPT 50304
    torch.testing.assert_close(ours[..., :n], ref[..., :n], rtol=1e-5, atol=1e-5)
    return lm


@pytest.mark.parametrize("prefix", ["", "_orig_mod.", "module._orig_mod."])
@pytest.mark.parametrize("bias", [True, False])
def test_nanogpt_ckpt(tmp_path, prefix, bias):
    model = tiny_model(bias=bias)
    lm = assert_same_function(write_nanogpt(tmp_path / "ckpt.pt", model, prefix=prefix), model)
    assert lm.checkpoint.format == "nanogpt"
    assert lm.config.bias is bias and lm.config.gelu_approximate == "none"
    assert lm.checkpoint.step == 250 and lm.checkpoint.val_loss == pytest.approx(1.4697)


def test_nanogpt_stale_attention_buffers_are_dropped(tmp_path):
    model = tiny_model()
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    ck = torch.load(path, weights_only=True)
    for i in range(model.config.n_layer):  # saved by nanoGPT on torch < 2.0 and by early build-nanogpt
        ck["model"][f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
    torch.save(ck, path)
    assert_same_function(path, model)


def test_build_nanogpt_from_real_main(tmp_path):
    model = tiny_model(gelu_approximate="tanh")
    lm = assert_same_function(write_build_nanogpt(tmp_path / "model_19072.pt", model), model)
    assert lm.checkpoint.format == "build-nanogpt"
    assert lm.config.gelu_approximate == "tanh" and lm.config.bias
    assert lm.checkpoint.step == 19072 and lm.checkpoint.val_loss == pytest.approx(3.0712)


@pytest.mark.parametrize("hub_keys", [False, True])
@pytest.mark.parametrize("safetensors", [True, False])
def test_huggingface_dir(tmp_path, hub_keys, safetensors):
    model = tiny_model(gelu_approximate="tanh")
    path = write_hf(tmp_path / "hf", model, hub_keys=hub_keys, safetensors=safetensors)
    lm = assert_same_function(path, model)
    assert lm.checkpoint.format == "huggingface" and lm.config.vocab_size == 50257


def test_huggingface_bias_free_export_is_exact(tmp_path):
    model = tiny_model(bias=False)
    assert_same_function(write_hf(tmp_path / "hf", model), model)


def test_char_level_meta_in_data_dir_and_next_to_checkpoint(tmp_path):
    ckpt, model = write_char_level(tmp_path)
    lm = assert_same_function(ckpt, model, idx=torch.tensor([[1, 2, 3, 4]]))
    assert lm.tokenizer.name == "char" and lm.tokenizer.decode(lm.tokenizer.encode("ROMEO:")) == "ROMEO:"
    (tmp_path / "data" / "shakespeare_char" / "meta.pkl").rename(ckpt.parent / "meta.pkl")
    assert load_model(ckpt).tokenizer.n_vocab == len(CHARS)
    (ckpt.parent / "meta.pkl").unlink()
    with pytest.raises(CheckpointError, match="meta.pkl"):
        read_checkpoint(ckpt)


def test_gelu_override(tmp_path):
    model = tiny_model(gelu_approximate="tanh")  # an old (tanh) nanoGPT checkpoint says nothing about its GELU
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    assert read_checkpoint(path).config.gelu_approximate == "none"
    assert_same_function(path, model, gelu="tanh")


def test_weights_are_not_copied_on_cpu(tmp_path):
    lm = load_model(write_nanogpt(tmp_path / "ckpt.pt", tiny_model()), device="cpu")
    assert lm.checkpoint.state_dict == {}
    assert lm.model.lm_head.weight is lm.model.transformer.wte.weight  # tied, one tensor
    assert lm.device.type == "cpu" and lm.dtype == torch.float32


# --- bad files -------------------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "nope.pt")


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pt: not a readable PyTorch checkpoint"):
        read_checkpoint(text)
    torch.save({"weights": [1, 2, 3]}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_truncated(tmp_path):
    path = write_nanogpt(tmp_path / "ckpt.pt", tiny_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="ckpt.pt: not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_missing_keys_and_wrong_shapes(tmp_path):
    model = tiny_model()
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    ck = torch.load(path, weights_only=True)
    del ck["model"]["transformer.h.1.mlp.c_fc.weight"]
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match=r"missing keys \['transformer.h.1.mlp.c_fc.weight'\]"):
        read_checkpoint(path)
    ck = torch.load(write_nanogpt(path, model), weights_only=True)
    ck["model_args"]["n_embd"] = 64
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        read_checkpoint(path)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))  # would create a file if the pickle were run


def test_malicious_pickle_is_refused_without_running(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {}, "model_args": {}, "payload": _Exploit(str(target))}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    raw = tmp_path / "raw.pt"  # an old-style (non-zip) pickle file
    raw.write_bytes(pickle.dumps({"model": _Exploit(str(target))}))
    with pytest.raises(CheckpointError):
        read_checkpoint(raw)
    assert not target.exists()


def test_malicious_meta_pkl_is_refused(tmp_path):
    ckpt, _ = write_char_level(tmp_path)
    target = tmp_path / "pwned"
    (tmp_path / "data" / "shakespeare_char" / "meta.pkl").write_bytes(pickle.dumps(_Exploit(str(target))))
    with pytest.raises(CheckpointError, match="meta.pkl: refused"):
        read_checkpoint(ckpt)
    assert not target.exists()


def test_hf_dir_problems(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        read_checkpoint(tmp_path / "empty")
    d = write_hf(tmp_path / "hf", tiny_model())
    (d / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="safetensors"):
        read_checkpoint(d)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        read_checkpoint(d)
    (d / "config.json").write_text(json.dumps({"n_embd": 32, "n_head": 3}))
    with pytest.raises(CheckpointError, match="config.json"):
        read_checkpoint(d)


def test_zip_with_garbage_inside(tmp_path):
    path = tmp_path / "ckpt.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        read_checkpoint(path)



# --- contiguous Linear weights (issue 17 item 0: the CPU kernel declines views) ----------------------------

def linear_weights(model):
    return {name: m.weight for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def assert_contiguous_linears(lm):
    weights = linear_weights(lm.model)
    assert len(weights) == 4 * lm.config.n_layer + 1  # c_attn, c_proj, c_fc, mlp.c_proj per block; lm_head
    assert [name for name, w in weights.items() if not w.is_contiguous()] == []


def write_import_hf(tmp_path, model):
    from model.import_hf import main as import_hf
    out = tmp_path / "imported.pt"
    assert import_hf([str(write_hf(tmp_path / "hf", model)), str(out)]) == 0
    return out


@pytest.mark.parametrize("fmt", ["nanogpt", "build-nanogpt", "hf-safetensors", "hf-bin-hub-keys", "import_hf"])
def test_every_format_gives_contiguous_linear_weights(tmp_path, fmt):
    model = tiny_model(gelu_approximate="tanh")
    path = {"nanogpt": lambda: write_nanogpt(tmp_path / "ckpt.pt", model),
            "build-nanogpt": lambda: write_build_nanogpt(tmp_path / "model_00100.pt", model),
            "hf-safetensors": lambda: write_hf(tmp_path / "hf", model),
            "hf-bin-hub-keys": lambda: write_hf(tmp_path / "hf", model, hub_keys=True, safetensors=False),
            "import_hf": lambda: write_import_hf(tmp_path, model)}[fmt]()
    assert_contiguous_linears(assert_same_function(path, model, gelu="tanh"))


def test_import_hf_writes_contiguous_tensors(tmp_path):
    with torch.serialization.safe_globals([GPTConfig]):
        sd = torch.load(write_import_hf(tmp_path, tiny_model()), weights_only=True)["model"]
    assert [k for k, v in sd.items() if not v.is_contiguous()] == []


def test_transposed_views_in_a_file_are_made_contiguous(tmp_path):
    # what model.import_hf wrote before: torch.save keeps a view's strides, so the file holds (in, out) storage
    model = tiny_model()
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    ck = torch.load(path, weights_only=True)
    for k in ck["model"]:
        if k.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            ck["model"][k] = ck["model"][k].t().contiguous().t()
    torch.save(ck, path)
    assert not torch.load(path, weights_only=True)["model"]["transformer.h.0.attn.c_attn.weight"].is_contiguous()
    assert_contiguous_linears(assert_same_function(path, model))
