"""Read every nanoGPT-style checkpoint safely and normalise it to one GPTConfig plus a nanoGPT-keyed state dict.

Formats (detected, never declared): karpathy/nanoGPT `ckpt.pt` (`model_args`), karpathy/build-nanogpt
`log/model_XXXXX.pt` (a `GPTConfig` pickled from `__main__`, also what model.train writes), Hugging Face GPT-2
directories (`config.json` + `model.safetensors` or `pytorch_model.bin`), and nanoGPT's character-level
checkpoints with their `meta.pkl`. Pickles are only ever read with torch's weights-only unpickler or a
restricted one: no code in a checkpoint runs.
"""
from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from .config import GPT2_VOCAB_SIZE, GPTConfig
from .tokenizer import CharTokenizer, Tokenizer, gpt2_tokenizer

HF_CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
HF_GELU = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "none"}


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
    state_dict: dict[str, torch.Tensor]  # nanoGPT keys, Linear layout
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
    if gelu is not None:
        ck.config.gelu_approximate = gelu
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
    if isinstance(obj.get("config"), GPTConfig):
        return _from_build_nanogpt(path, obj)
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        # a bare Hugging Face state dict (pytorch_model.bin) whose config.json sits beside it
        return _read_hf_dir(path.parent, weights=obj)
    raise CheckpointError(path, "not a checkpoint: no 'model_args' (nanoGPT), 'config' (build-nanogpt) "
                                f"or bare state dict; top-level keys: {sorted(map(str, obj))[:8]}")


def _state_dict(path: Path, obj: dict) -> dict[str, torch.Tensor]:
    sd = obj.get("model")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(path, "the checkpoint has no 'model' state dict of tensors")
    return normalise_keys(sd)


def _from_nanogpt(path: Path, obj: dict) -> Checkpoint:
    known = {f.name for f in fields(GPTConfig)}
    args = {k: v for k, v in obj["model_args"].items() if k in known}
    try:
        config = GPTConfig(**args)
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"bad model_args: {e}") from None
    best = obj.get("best_val_loss")
    train_config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    return Checkpoint(path, "nanogpt", config, _state_dict(path, obj),
                      _nanogpt_tokenizer(path, config, train_config.get("dataset")),
                      step=obj.get("iter_num"), val_loss=float(best) if best is not None else None)


def _from_build_nanogpt(path: Path, obj: dict) -> Checkpoint:
    config: GPTConfig = obj["config"]
    if "gelu_approximate" not in vars(config):
        config.gelu_approximate = "tanh"  # build-nanogpt's nn.GELU(approximate='tanh'); our trainer records its own
    sd = _state_dict(path, obj)
    config.bias = "transformer.ln_f.bias" in sd
    val_loss = obj.get("val_loss")
    return Checkpoint(path, "build-nanogpt", config, sd, _nanogpt_tokenizer(path, config, None),
                      step=obj.get("step"), val_loss=float(val_loss) if val_loss is not None else None)


def _read_hf_dir(path: Path, weights: dict | None = None) -> Checkpoint:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(path, "not a Hugging Face model directory: no config.json")
    try:
        hf = json.loads(config_file.read_text())
        config = GPTConfig(block_size=hf.get("n_positions", 1024), vocab_size=hf.get("vocab_size", 50257),
                           n_layer=hf.get("n_layer", 12), n_head=hf.get("n_head", 12),
                           n_embd=hf.get("n_embd", 768), bias=True,
                           gelu_approximate=HF_GELU[hf.get("activation_function", "gelu_new")])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CheckpointError(config_file, f"not a GPT-2 config.json: {e!r}") from None
    if weights is None:
        weights = _read_hf_weights(path)
    sd = normalise_keys(weights)
    for k in list(sd):
        if k.endswith(HF_CONV1D_WEIGHTS):
            sd[k] = sd[k].t()  # Hugging Face's Conv1D stores (in, out); nn.Linear wants (out, in)
    return Checkpoint(path, "huggingface", config, sd, _nanogpt_tokenizer(path, config, None))


def _read_hf_weights(path: Path) -> dict[str, torch.Tensor]:
    if (path / "model.safetensors").is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(path / "model.safetensors")
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(path / "model.safetensors", f"unreadable safetensors file: {e}") from None
    if (path / "pytorch_model.bin").is_file():
        obj = _torch_load(path / "pytorch_model.bin")
        if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        raise CheckpointError(path / "pytorch_model.bin", "not a state dict of tensors")
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


def _check_shapes(ck: Checkpoint) -> None:
    from .gpt import GPT

    with torch.device("meta"):
        expected = GPT(ck.config).state_dict()
    sd = ck.state_dict
    if "lm_head.weight" not in sd and "transformer.wte.weight" in sd:
        sd["lm_head.weight"] = sd["transformer.wte.weight"]  # Hugging Face files leave the tied head out
    missing = sorted(expected.keys() - sd.keys())
    unexpected = sorted(sd.keys() - expected.keys())
    wrong = [f"{k} {tuple(sd[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in sd and sd[k].shape != v.shape]
    problems = ([f"missing keys {missing[:5]}"] if missing else []) + \
               ([f"unexpected keys {unexpected[:5]}"] if unexpected else []) + \
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
    converted: dict[int, torch.Tensor] = {}  # by storage, so the tied wte/lm_head is converted and saved once
    sd = {}
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() not in converted:
            converted[tensor.data_ptr()] = tensor.detach().to("cpu", dtype or tensor.dtype)
        sd[key] = converted[tensor.data_ptr()]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": sd, "config": replace(model.config), "step": step, "val_loss": val_loss, **extra}, tmp)
    os.replace(tmp, path)
