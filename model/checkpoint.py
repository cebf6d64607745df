"""Read every nanoGPT-style checkpoint safely and normalise it to one GPTConfig plus a nanoGPT-keyed state dict.

Formats (detected, never declared): karpathy/nanoGPT `ckpt.pt` (`model_args`), karpathy/build-nanogpt
`log/model_XXXXX.pt` (a `GPTConfig` pickled from `__main__`, also what model.train writes), Hugging Face GPT-2
directories (`config.json` + `model.safetensors` or `pytorch_model.bin`), and nanoGPT's character-level
checkpoints with their `meta.pkl`. Pickles are only ever read with torch's weights-only unpickler or a
restricted one: no code in a checkpoint runs.
"""
from __future__ import annotations

import json
import math
import os
import pickle
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from .config import GPT2_VOCAB_SIZE, GPTConfig
from .tokenizer import CharTokenizer, Tokenizer, gpt2_tokenizer

HF_CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
HF_GELU = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "none"}

# Largest config values a checkpoint may declare. Far above any GPT-2-style model that fits one machine
# (GPT-2 XL: 48 layers, n_embd 1600), far below what makes merely describing the model (GPT on the meta
# device, a list of its keys) take minutes or gigabytes: a 1,000,000-layer config.json once took a worker to 20 GB.
MAX_N_LAYER = 1024
MAX_N_EMBD = 65536  # also bounds n_head, which divides it
MAX_BLOCK_SIZE = 1 << 20
MAX_VOCAB_SIZE = 1 << 22
CONFIG_LIMITS = {"n_layer": MAX_N_LAYER, "n_head": MAX_N_EMBD, "n_embd": MAX_N_EMBD,
                 "block_size": MAX_BLOCK_SIZE, "vocab_size": MAX_VOCAB_SIZE}
MAX_SIDE_FILE_BYTES = 64 << 20  # config.json and meta.pkl are read whole: kilobytes in practice


class CheckpointError(Exception):
    """A file that cannot be served: names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass
class Checkpoint:
    path: Path
    format: str  # 'nanogpt' | 'build-nanogpt' | 'huggingface'
    config: GPTConfig
    state_dict: dict[str, torch.Tensor]  # nanoGPT keys, Linear layout (Conv1D weights as transposed views)
    tokenizer: Tokenizer
    step: int | None = None
    val_loss: float | None = None


def read_checkpoint(path: str | Path, gelu: str | None = None) -> Checkpoint:
    """Detect the format of `path`, load it without executing pickled code, and normalise it."""
    path = Path(path)
    if path.is_dir():
        ck = _read_hf_dir(path)
    elif path.is_file():
        ck = _read_torch_file(path)
    else:
        raise CheckpointError(path, "no such checkpoint file or directory")
    if gelu is not None:  # a setting, not the file: a bad value is the caller's ValueError
        ck.config = replace(ck.config, gelu_approximate=gelu)
    if ck.tokenizer.n_vocab > ck.config.vocab_size:
        raise CheckpointError(path, f"the {ck.tokenizer.name} tokenizer has {ck.tokenizer.n_vocab} tokens but the "
                                    f"model only {ck.config.vocab_size}")
    _check_shapes(ck)
    return ck


def _torch_load(path: Path, **extra_globals) -> object:
    # build-nanogpt pickles its GPTConfig from __main__; map that name (and ours) to our superset dataclass
    allowed = [(GPTConfig, "__main__.GPTConfig"), GPTConfig]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=_is_zip(path))
    except pickle.UnpicklingError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "GLOBAL" in line or "global" in line),
                      str(e).splitlines()[0])
        raise CheckpointError(path, f"refused: the file holds pickled objects other than tensors and plain "
                                    f"data, and they were not run ({reason})") from None
    except Exception as e:  # torch's readers fail on garbage in many ways (IndexError, RuntimeError, EOFError...)
        raise CheckpointError(path, f"not a readable PyTorch checkpoint (truncated or not one?): "
                                    f"{type(e).__name__}: {e}") from None


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"  # torch.save's format; older pickle files cannot be memory-mapped


def _read_torch_file(path: Path) -> Checkpoint:
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"not a checkpoint: expected a dict, found {type(obj).__name__}")
    if "model_args" in obj:
        return _from_nanogpt(path, obj)
    config = obj.get("config")
    if isinstance(config, GPTConfig) or (isinstance(config, dict) and "n_layer" in config):
        return _from_build_nanogpt(path, obj)  # a dict config: build-nanogpt's layout saved through asdict()
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        # a bare Hugging Face state dict (pytorch_model.bin) whose config.json sits beside it
        return _read_hf_dir(path.parent, weights=_tensors(path, obj, "the state dict"))
    raise CheckpointError(path, "not a checkpoint: no 'model_args' (nanoGPT), 'config' (build-nanogpt) "
                                f"or bare state dict; top-level keys: {sorted(map(str, obj))[:8]}")


def _tensors(path: Path, sd: object, what: str) -> dict[str, torch.Tensor]:
    """sd under nanoGPT's key names (normalise_keys), once it is a dict of floating-point tensors by name."""
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(path, f"{what} is not a dict of tensors")
    if not sd:
        raise CheckpointError(path, f"{what} holds no tensors")
    if not all(isinstance(k, str) for k in sd):
        raise CheckpointError(path, f"{what} has keys that are not strings: "
                                    f"{[k for k in sd if not isinstance(k, str)][:3]}")
    sd = normalise_keys(sd)  # first: it drops the old causal-mask buffers, which are bool or uint8
    # weights the model cannot compute with: int or bool tensors survive .to(dtype) and fail the first request;
    # sparse, quantized and meta tensors fail load_state_dict or the first request
    bad = [f"{k} ({v.dtype}, {v.layout})" for k, v in sd.items()
           if not v.is_floating_point() or v.layout != torch.strided or v.is_quantized or v.is_meta]
    if bad:
        raise CheckpointError(path, f"{what} holds tensors that are not dense floating-point weights: {bad[:3]}")
    return sd


def _config(path: Path, values: dict, where: str, names: dict[str, str] | None = None) -> GPTConfig:
    """GPTConfig(**values), once every value has the type and range a model can be built with; CheckpointError
    naming the first bad one otherwise. Missing values take GPTConfig's defaults. `names` maps our field names to
    the file's (Hugging Face's n_positions is our block_size), so the message names what the file says."""
    values = {f.name: values.get(f.name, f.default) for f in fields(GPTConfig)}
    names = names or {}

    def bad(name: str, problem: str) -> CheckpointError:
        shown = repr(values[name])
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return CheckpointError(path, f"bad {where}: {names.get(name, name)}={shown} {problem}")

    for name, limit in CONFIG_LIMITS.items():
        v = values[name]
        if type(v) is not int:  # bool is an int subclass, and 12.0 or "12" would fail in nn.Linear, not here
            raise bad(name, f"must be an integer, not {type(v).__name__}")
        if v <= 0:
            raise bad(name, "must be positive")
        if v > limit:
            raise bad(name, f"is over this loader's limit of {limit} (model/checkpoint.py MAX_*)")
    if values["n_embd"] % values["n_head"]:
        raise bad("n_embd", f"is not divisible by {names.get('n_head', 'n_head')}={values['n_head']}")
    if type(values["bias"]) is not bool:  # bias="False" would be truthy
        raise bad("bias", f"must be true or false, not {type(values['bias']).__name__}")
    dropout = values["dropout"]
    if type(dropout) not in (int, float) or not 0 <= dropout < 1:  # also refuses NaN
        raise bad("dropout", "must be a number in [0, 1)")
    if values["gelu_approximate"] not in ("none", "tanh"):
        raise bad("gelu_approximate", "must be 'none' or 'tanh'")
    return GPTConfig(**values)


def _optional_number(value: object, kind: type) -> int | float | None:
    """A step or loss for display; anything else (a string, a tensor of many values, NaN) is dropped rather
    than refused: the weights are still servable, and the value must survive JSON."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if type(value) not in (int, float) or not math.isfinite(value) or (kind is int and value != int(value)):
        return None
    return kind(value)


def _from_nanogpt(path: Path, obj: dict) -> Checkpoint:
    model_args = obj["model_args"]
    if not isinstance(model_args, dict):
        raise CheckpointError(path, f"bad model_args: expected a dict of the model's settings, found "
                                    f"{type(model_args).__name__}")
    config = _config(path, model_args, "model_args")
    train_config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    dataset = train_config.get("dataset")
    return Checkpoint(path, "nanogpt", config, _tensors(path, obj.get("model"), "the checkpoint's 'model'"),
                      _nanogpt_tokenizer(path, config, dataset if isinstance(dataset, str) else None),
                      step=_optional_number(obj.get("iter_num"), int),
                      val_loss=_optional_number(obj.get("best_val_loss"), float))


def _from_build_nanogpt(path: Path, obj: dict) -> Checkpoint:
    config = obj["config"]
    # a pickled GPTConfig holds only what build-nanogpt's had; the rest reads GPTConfig's class defaults
    values = dict(config) if isinstance(config, dict) else \
        {f.name: getattr(config, f.name) for f in fields(GPTConfig)}
    if "gelu_approximate" not in (config if isinstance(config, dict) else vars(config)):
        values["gelu_approximate"] = "tanh"  # build-nanogpt's GELU; our trainer records its own
    sd = _tensors(path, obj.get("model"), "the checkpoint's 'model'")
    values["bias"] = "transformer.ln_f.bias" in sd
    config = _config(path, values, "config")
    return Checkpoint(path, "build-nanogpt", config, sd, _nanogpt_tokenizer(path, config, None),
                      step=_optional_number(obj.get("step"), int),
                      val_loss=_optional_number(obj.get("val_loss"), float))


def _read_hf_dir(path: Path, weights: dict[str, torch.Tensor] | None = None) -> Checkpoint:
    config = _hf_config(path)  # before the weights: a config is checked in microseconds
    sd = weights if weights is not None else _read_hf_weights(path)
    for k in list(sd):
        if k.endswith(HF_CONV1D_WEIGHTS):
            # Hugging Face's Conv1D stores (in, out); nn.Linear wants (out, in). A view, so that reading
            # metadata copies nothing; loader.place_model makes it contiguous for the kernels
            sd[k] = sd[k].t()
    return Checkpoint(path, "huggingface", config, sd, _nanogpt_tokenizer(path, config, None))


def _hf_config(path: Path) -> GPTConfig:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(path, "not a Hugging Face model directory: no config.json")
    if config_file.stat().st_size > MAX_SIDE_FILE_BYTES:
        raise CheckpointError(config_file, f"not a GPT-2 config.json: {config_file.stat().st_size} bytes")
    try:
        hf = json.loads(config_file.read_text())
    except ValueError as e:  # UnicodeDecodeError too
        raise CheckpointError(config_file, f"not a GPT-2 config.json: {e}") from None
    if not isinstance(hf, dict):
        raise CheckpointError(config_file, f"not a GPT-2 config.json: a JSON {type(hf).__name__}, not an object")
    if hf.get("model_type", "gpt2") != "gpt2":
        raise CheckpointError(config_file, f"model_type {hf['model_type']!r} is not GPT-2")
    activation = hf.get("activation_function", "gelu_new")
    if not isinstance(activation, str) or activation not in HF_GELU:
        raise CheckpointError(config_file, f"bad config.json: activation_function={activation!r} is not one of "
                                           f"{', '.join(HF_GELU)}")
    values = dict(block_size=hf.get("n_positions", hf.get("n_ctx", 1024)), vocab_size=hf.get("vocab_size", 50257),
                  n_layer=hf.get("n_layer", 12), n_head=hf.get("n_head", 12), n_embd=hf.get("n_embd", 768),
                  bias=True, gelu_approximate=HF_GELU[activation])
    config = _config(config_file, values, "config.json", names={"block_size": "n_positions"})
    if hf.get("n_inner") not in (None, 4 * config.n_embd):
        raise CheckpointError(config_file, f"bad config.json: n_inner={hf['n_inner']!r}; only GPT-2's 4 * n_embd "
                                           "is supported")
    return config


def _read_hf_weights(path: Path) -> dict[str, torch.Tensor]:
    if (path / "model.safetensors").is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            sd = load_file(path / "model.safetensors")  # memory-mapped: nothing is read until used
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(path / "model.safetensors", f"unreadable safetensors file: {e}") from None
        return _tensors(path / "model.safetensors", sd, "the safetensors file")
    if (path / "pytorch_model.bin").is_file():
        return _tensors(path / "pytorch_model.bin", _torch_load(path / "pytorch_model.bin"), "pytorch_model.bin")
    raise CheckpointError(path, "no model.safetensors or pytorch_model.bin in the directory")


def normalise_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """nanoGPT key names: strip torch.compile's `_orig_mod.` and DDP's `module.`, add Hugging Face's missing
    `transformer.`, and drop the causal-mask buffers older code saved (`.attn.bias`, `.attn.masked_bias`)."""
    out = {}
    for key, tensor in sd.items():
        while key.startswith(("_orig_mod.", "module.")):
            key = key.split(".", 1)[1]
        if key.startswith(("h.", "wte.", "wpe.", "ln_f.")):
            key = "transformer." + key
        if key.endswith((".attn.bias", ".attn.masked_bias")):
            continue
        out[key] = tensor
    return out


def _nanogpt_tokenizer(path: Path, config: GPTConfig, dataset: str | None) -> Tokenizer:
    places = [path.parent / "meta.pkl", path / "meta.pkl"] if path.is_dir() else [path.parent / "meta.pkl"]
    if dataset:  # nanoGPT's sample.py reads data/<dataset>/meta.pkl from the repo root
        places += [path.parent.parent / "data" / dataset / "meta.pkl", Path("data") / dataset / "meta.pkl"]
    meta_file = next((p for p in places if p.is_file()), None)
    if meta_file is not None:
        return read_meta(meta_file)
    if config.vocab_size < GPT2_VOCAB_SIZE:
        raise CheckpointError(path, f"vocab_size {config.vocab_size} is not GPT-2's: a character-level model "
                                    "needs its meta.pkl next to the checkpoint")
    return gpt2_tokenizer()


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def read_meta(path: Path) -> CharTokenizer:
    """nanoGPT's character vocabulary, through an unpickler that refuses every global (plain data only)."""
    if path.stat().st_size > MAX_SIDE_FILE_BYTES:  # read whole: a huge one would only be a way to exhaust memory
        raise CheckpointError(path, f"refused: {path.stat().st_size} bytes is not a nanoGPT meta.pkl")
    try:
        with open(path, "rb") as f:
            meta = _DataOnlyUnpickler(f).load()
        stoi, itos = meta["stoi"], meta["itos"]
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in stoi.items()) or \
                not all(isinstance(k, int) and isinstance(v, str) for k, v in itos.items()):
            raise ValueError("stoi must map str to int and itos int to str")
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(path, f"refused: not a nanoGPT meta.pkl of plain data ({e})") from None
    return CharTokenizer(stoi, itos)


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """GPT(config).state_dict()'s names and shapes, in its order, worked out without building the model: a
    config is checked against its file before anything the size of the model is allocated, meta tensors included."""
    C, bias = config.n_embd, config.bias
    block = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (3 * C, C), "attn.c_attn.bias": (3 * C,),
             "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,), "ln_2.weight": (C,), "ln_2.bias": (C,),
             "mlp.c_fc.weight": (4 * C, C), "mlp.c_fc.bias": (4 * C,), "mlp.c_proj.weight": (C, 4 * C),
             "mlp.c_proj.bias": (C,)}
    shapes = {"transformer.wte.weight": (config.vocab_size, C), "transformer.wpe.weight": (config.block_size, C)}
    for i in range(config.n_layer):
        shapes.update({f"transformer.h.{i}.{k}": s for k, s in block.items() if bias or not k.endswith(".bias")})
    shapes["transformer.ln_f.weight"] = (C,)
    if bias:
        shapes["transformer.ln_f.bias"] = (C,)
    shapes["lm_head.weight"] = (config.vocab_size, C)
    return shapes


def parameter_count(config: GPTConfig, tied: bool = True) -> int:
    """Parameters of GPT(config), position embeddings included (GPT.num_params(non_embedding=False)), without
    building it; a tied head shares the token embedding's matrix and is not counted twice."""
    n = sum(math.prod(shape) for shape in expected_shapes(config).values())
    return n - config.vocab_size * config.n_embd if tied else n


def _check_shapes(ck: Checkpoint) -> None:
    expected = expected_shapes(ck.config)
    sd = ck.state_dict
    if "lm_head.weight" not in sd and "transformer.wte.weight" in sd:
        sd["lm_head.weight"] = sd["transformer.wte.weight"]  # Hugging Face files leave the tied head out
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f"{k} {tuple(sd[k].shape)} != {shape}" for k, shape in expected.items()
             if k in sd and tuple(sd[k].shape) != shape]
    problems = ([f"{len(missing)} missing keys {missing[:5]}"] if missing else []) + \
               ([f"{len(unexpected)} unexpected keys {unexpected[:5]}"] if unexpected else []) + \
               ([f"shape mismatch (file != config): {wrong[:3]}"] if wrong else [])
    if problems:
        raise CheckpointError(ck.path, "weights do not fit the model config: " + "; ".join(problems))


def save_checkpoint(path: str | Path, model, step: int | None = None, val_loss: float | None = None,
                    dtype: torch.dtype | None = None, **extra) -> None:
    """Write build-nanogpt's layout {'model', 'config', 'step', 'val_loss', **extra}, readable with weights_only.

    The config is a copy made through __init__, so every field, gelu_approximate included, is in its __dict__:
    that is how _from_build_nanogpt tells our files from build-nanogpt's (whose GELU is tanh). The file is
    written under a temporary name first, so a crash never leaves a half-written checkpoint behind.
    """
    converted: dict[tuple, torch.Tensor] = {}  # by storage and view, so the tied wte/lm_head is saved once
    sd = {}
    for key, tensor in model.state_dict().items():
        view = (tensor.data_ptr(), tensor.shape, tensor.stride())
        if view not in converted:
            # contiguous: a transposed view would be saved with its strides, and the CPU kernel declines those
            converted[view] = tensor.detach().to("cpu", dtype or tensor.dtype).contiguous()
        sd[key] = converted[view]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": sd, "config": replace(model.config), "step": step, "val_loss": val_loss, **extra}, tmp)
    os.replace(tmp, path)
