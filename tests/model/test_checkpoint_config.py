"""A checkpoint whose config or state dict is malformed gets a CheckpointError naming the problem, in every format,
and an absurd config is refused from arithmetic alone: no model, not even on the meta device, is built for it."""
import json
import math
import resource
import shutil
import time
from dataclasses import asdict

import pytest
import torch

from checkpoints import TINY, tiny_model, write_hf, write_nanogpt
from model import CheckpointError, load_model, read_checkpoint
from model.checkpoint import MAX_N_LAYER, expected_shapes, parameter_count
from model.config import GPTConfig
from model.gpt import GPT

HUGE = {"n_layer": 1_000_000, "n_head": 1, "n_embd": 8}  # the config.json that took a worker to 20 GB


@pytest.fixture
def no_gpt(monkeypatch):
    """Fails the test if anything builds a GPT (on any device, meta included)."""
    def refuse(self, config):
        raise AssertionError(f"GPT({config}) was constructed")
    monkeypatch.setattr(GPT, "__init__", refuse)


@pytest.fixture(scope="module")
def nanogpt_file(tmp_path_factory):
    return torch.load(write_nanogpt(tmp_path_factory.mktemp("nanogpt") / "ckpt.pt", tiny_model()),
                      weights_only=True)


@pytest.fixture(scope="module")
def hf_template(tmp_path_factory):
    return write_hf(tmp_path_factory.mktemp("hf") / "hf", tiny_model())


@pytest.fixture
def hf_dir(tmp_path, hf_template):
    return shutil.copytree(hf_template, tmp_path / "hf")


def with_model_args(tmp_path, ck: dict, **changes):
    args = ck["model_args"]
    path = tmp_path / "ckpt.pt"
    torch.save({**ck, "model_args": {**args, **changes} if isinstance(args, dict) else args}, path)
    return path


BAD_VALUES = [  # (field, value, what the message says)
    ("n_layer", "2", r"n_layer='2' must be an integer, not str"),
    ("n_layer", 2.0, r"n_layer=2.0 must be an integer, not float"),
    ("n_layer", True, r"n_layer=True must be an integer, not bool"),
    ("n_layer", None, r"n_layer=None must be an integer, not NoneType"),
    ("n_layer", 0, r"n_layer=0 must be positive"),
    ("n_layer", -2, r"n_layer=-2 must be positive"),
    ("n_layer", 1_000_000, r"n_layer=1000000 is over this loader's limit of 1024"),
    ("n_head", 0, r"n_head=0 must be positive"),
    ("n_head", 3, r"n_embd=32 is not divisible by n_head=3"),
    ("n_embd", 1 << 20, r"n_embd=1048576 is over this loader's limit"),
    ("vocab_size", 0, r"vocab_size=0 must be positive"),
    ("vocab_size", 1 << 30, r"vocab_size=1073741824 is over this loader's limit"),
    ("block_size", 1 << 40, r"block_size=1099511627776 is over this loader's limit"),
]


@pytest.mark.parametrize("field, value, message", BAD_VALUES + [
    ("n_embd", torch.tensor(32), r"n_embd=tensor\(32\) must be an integer, not Tensor"),
    ("bias", "False", r"bias='False' must be true or false, not str"),
    ("dropout", "0.1", r"dropout='0.1' must be a number in \[0, 1\)"),
    ("dropout", float("nan"), r"dropout=nan must be a number"),
    ("dropout", 1.5, r"dropout=1.5 must be a number"),
])
def test_nanogpt_bad_model_args(tmp_path, nanogpt_file, no_gpt, field, value, message):
    with pytest.raises(CheckpointError, match=r"ckpt.pt: bad model_args: " + message):
        read_checkpoint(with_model_args(tmp_path, nanogpt_file, **{field: value}))


@pytest.mark.parametrize("model_args", ["n_layer=2, n_head=2", ["n_layer", 2], 12, None])
def test_nanogpt_model_args_not_a_dict(tmp_path, nanogpt_file, model_args):
    path = tmp_path / "ckpt.pt"
    torch.save({**nanogpt_file, "model_args": model_args}, path)
    with pytest.raises(CheckpointError, match=rf"bad model_args: expected a dict .*found {type(model_args).__name__}"):
        read_checkpoint(path)


@pytest.mark.parametrize("field, value, message", BAD_VALUES + [
    ("gelu_approximate", "exact", r"gelu_approximate='exact' must be 'none' or 'tanh'"),
])
@pytest.mark.parametrize("as_dict", [False, True])
def test_build_nanogpt_bad_config(tmp_path, no_gpt, field, value, message, as_dict):
    # the pickled GPTConfig is data: its fields are whatever the file says, never run through __post_init__
    config = GPTConfig(**TINY)
    setattr(config, field, value)
    path = tmp_path / "model_00100.pt"
    sd = {"transformer.wte.weight": torch.zeros(4, 4)}
    torch.save({"model": sd, "config": vars(config) if as_dict else config, "step": 100}, path)
    with pytest.raises(CheckpointError, match=r"model_00100.pt: bad config: " + message):
        read_checkpoint(path)


def test_build_nanogpt_dict_config_loads(tmp_path):
    model = tiny_model(gelu_approximate="tanh")
    path = tmp_path / "model_00100.pt"
    config = {k: v for k, v in asdict(model.config).items() if k != "gelu_approximate"}  # build-nanogpt's fields
    torch.save({"model": model.state_dict(), "config": config, "step": 100, "val_loss": 3.5}, path)
    lm = load_model(path, device="cpu")
    assert lm.checkpoint.format == "build-nanogpt" and lm.config.gelu_approximate == "tanh"
    assert lm.checkpoint.step == 100 and lm.checkpoint.val_loss == 3.5


HF_RENAMED = {"block_size": "n_positions"}


@pytest.mark.parametrize("field, value, message", BAD_VALUES)
def test_hf_bad_config_json(hf_dir, no_gpt, field, value, message):
    d = hf_dir
    hf = json.loads((d / "config.json").read_text())
    hf[HF_RENAMED.get(field, field)] = value
    (d / "config.json").write_text(json.dumps(hf))
    message = message.replace("block_size", "n_positions")
    with pytest.raises(CheckpointError, match=r"config.json: bad config.json: " + message):
        read_checkpoint(d)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", r"not a GPT-2 config.json: a JSON list"),
    ('"gpt2"', r"not a GPT-2 config.json: a JSON str"),
    ("{", r"not a GPT-2 config.json"),
    (b"\xff\xfe{}", r"not a GPT-2 config.json"),
    ('{"model_type": "llama"}', r"model_type 'llama' is not GPT-2"),
    ('{"activation_function": "relu"}', r"activation_function='relu' is not one of gelu_new"),
    ('{"activation_function": ["gelu"]}', r"activation_function=\['gelu'\] is not one of"),
    ('{"n_layer": null}', r"n_layer=None must be an integer"),
    ('{"n_layer": 2, "n_head": 2, "n_embd": 32, "n_inner": 100}', r"n_inner=100; only GPT-2's 4 \* n_embd"),
])
def test_hf_config_json_not_gpt2(hf_dir, no_gpt, text, message):
    d = hf_dir
    if isinstance(text, bytes):
        (d / "config.json").write_bytes(text)
    else:
        (d / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(d)


@pytest.mark.parametrize("model, message", [
    ([1, 2, 3], r"'model' is not a dict of tensors"),
    ({}, r"'model' holds no tensors"),
    ({"transformer.wte.weight": [0.0]}, r"'model' is not a dict of tensors"),
    ({0: torch.zeros(2)}, r"'model' has keys that are not strings: \[0\]"),
    ({"transformer.wte.weight": torch.zeros(50304, 32, dtype=torch.int64)},
     r"not dense floating-point weights: \['transformer.wte.weight \(torch.int64"),
    ({"transformer.wte.weight": torch.zeros(50304, 32, dtype=torch.bool)}, r"not dense floating-point"),
    ({"transformer.wte.weight": torch.zeros(50304, 32).to_sparse()}, r"not dense floating-point"),
    ({"transformer.wte.weight": torch.zeros(50304, 32, dtype=torch.complex64)}, r"not dense floating-point"),
])
def test_bad_state_dicts(tmp_path, nanogpt_file, model, message):
    path = tmp_path / "ckpt.pt"
    torch.save({**nanogpt_file, "model": model}, path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def test_hf_mask_buffers_of_bool_are_dropped_not_refused(tmp_path):
    model = tiny_model(gelu_approximate="tanh")
    d = write_hf(tmp_path / "hf", model, hub_keys=True, safetensors=False)
    sd = torch.load(d / "pytorch_model.bin", weights_only=True)
    for i in range(model.config.n_layer):  # as transformers' older GPT-2 files carry them
        sd[f"h.{i}.attn.bias"] = torch.ones(1, 1, 64, 64, dtype=torch.bool).tril()
        sd[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(sd, d / "pytorch_model.bin")
    assert read_checkpoint(d).format == "huggingface"


def test_odd_step_and_loss_are_dropped_not_fatal(tmp_path, nanogpt_file):
    path = tmp_path / "ckpt.pt"
    torch.save({**nanogpt_file, "iter_num": torch.tensor(250), "best_val_loss": "n/a"}, path)
    ck = read_checkpoint(path)
    assert ck.step == 250 and ck.val_loss is None
    torch.save({**nanogpt_file, "iter_num": "250", "best_val_loss": torch.tensor(float("nan"))}, path)
    ck = read_checkpoint(path)
    assert ck.step is None and ck.val_loss is None
    torch.save({**nanogpt_file, "config": {"dataset": 7}}, path)  # not a path: the GPT-2 tokenizer, as no dataset
    assert read_checkpoint(path).tokenizer.name == "gpt2"


def test_bad_gelu_setting_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="gelu_approximate"):
        read_checkpoint(write_nanogpt(tmp_path / "ckpt.pt", tiny_model()), gelu="exact")


# --- absurd configs are refused before anything is built ------------------------------------------------

def refused_quickly(call, match):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux: the process's peak so far
    start = time.monotonic()
    with pytest.raises(CheckpointError, match=match):
        call()
    assert time.monotonic() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200 << 10  # under 200 MiB of new peak


def test_million_layer_hf_config_with_empty_header(tmp_path, no_gpt):
    from safetensors.torch import save_file
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({**HUGE, "n_positions": 8}))
    save_file({}, d / "model.safetensors")  # a valid file whose header lists no tensors
    refused_quickly(lambda: load_model(d, device="cpu"), r"n_layer=1000000 is over this loader's limit")
    (d / "config.json").write_text(json.dumps({"n_layer": MAX_N_LAYER, "n_head": 1, "n_embd": 8, "n_positions": 8}))
    refused_quickly(lambda: load_model(d, device="cpu"), r"safetensors file holds no tensors")


def test_million_layer_nanogpt_ckpt(tmp_path, nanogpt_file, no_gpt):
    path = with_model_args(tmp_path, nanogpt_file, **HUGE, block_size=8)
    refused_quickly(lambda: load_model(path, device="cpu"), r"bad model_args: n_layer=1000000 is over")


def test_largest_allowed_config_is_compared_arithmetically(tmp_path, nanogpt_file, no_gpt):
    # every value at its limit: GPT(config) on the meta device alone would take many seconds; the keys
    # and shapes are compared without it, and the first few mismatches named
    path = with_model_args(tmp_path, nanogpt_file, n_layer=MAX_N_LAYER, n_head=1, n_embd=1 << 16,
                           block_size=1 << 20, vocab_size=1 << 22)
    refused_quickly(lambda: load_model(path, device="cpu"),
                    r"weights do not fit the model config: \d+ missing keys \['transformer.h.2.ln_1.weight', .*"
                    r"shape mismatch \(file != config\): \['transformer.wte.weight \(50304, 32\) != "
                    r"\(4194304, 65536\)'")


# --- the config's arithmetic matches the model ----------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_expected_shapes_and_parameter_count_match_gpt(bias):
    config = GPTConfig(**{**TINY, "bias": bias, "n_layer": 3})
    with torch.device("meta"):
        model = GPT(config)
    assert expected_shapes(config) == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(expected_shapes(config)) == list(model.state_dict())  # in the same order
    assert parameter_count(config) == model.num_params(non_embedding=False)
    assert parameter_count(config, tied=False) == model.num_params(non_embedding=False) + math.prod((50304, 32))


def test_gpt2_124m_parameter_count():
    assert parameter_count(GPTConfig(vocab_size=50257)) == 124_439_808  # Hugging Face's gpt2
