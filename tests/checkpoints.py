"""Writers of tiny real checkpoints in every format the loader reads, laid out as each training code saves them."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from model.config import GPTConfig
from model.gpt import GPT
from model.hf import hf_config, hf_state_dict

TINY = dict(block_size=64, vocab_size=50304, n_layer=2, n_head=2, n_embd=32)


def tiny_model(seed: int = 0, **overrides) -> GPT:
    model = GPT(GPTConfig(**{**TINY, **overrides}))
    model.init_weights(seed=seed)
    if model.config.bias:  # nonzero biases, so a loader that drops them fails the logits checks
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(seed + 1))
    return model.eval()


def write_nanogpt(path: Path, model: GPT, prefix: str = "", dataset: str = "openwebtext") -> Path:
    """karpathy/nanoGPT train.py's ckpt.pt, optimizer state and all; prefix '_orig_mod.' as torch.compile leaves it."""
    c = model.config
    model_args = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size,
                      bias=c.bias, vocab_size=c.vocab_size, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.save({
        "model": {prefix + k: v for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "model_args": model_args,
        "iter_num": 250,
        "best_val_loss": torch.tensor(1.4697),
        "config": {"dataset": dataset, "batch_size": 12, "compile": bool(prefix), "out_dir": "out"},
    }, path)
    return path


def write_build_nanogpt(path: Path, model: GPT, step: int = 19072) -> Path:
    """karpathy/build-nanogpt's log/model_XXXXX.pt, its GPTConfig pickled from a real `__main__`."""
    state = path.with_suffix(".state.pt")
    torch.save(model.state_dict(), state)
    c = model.config
    script = textwrap.dedent(f"""
        import torch
        from dataclasses import dataclass

        @dataclass
        class GPTConfig:
            block_size: int = 1024
            vocab_size: int = 50257
            n_layer: int = 12
            n_head: int = 12
            n_embd: int = 768

        sd = torch.load({str(state)!r})
        config = GPTConfig(block_size={c.block_size}, vocab_size={c.vocab_size}, n_layer={c.n_layer},
                           n_head={c.n_head}, n_embd={c.n_embd})
        torch.save({{"model": sd, "config": config, "step": {step}, "val_loss": 3.0712}}, {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    state.unlink()
    return path


def write_hf(directory: Path, model: GPT, n_vocab: int = 50257, hub_keys: bool = False,
             safetensors: bool = True) -> Path:
    """A Hugging Face GPT-2 directory; hub_keys drops the `transformer.` prefix as the Hub's gpt2 files do."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(hf_config(model.config, n_vocab)))
    sd = hf_state_dict(model, n_vocab)
    if hub_keys:
        sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    if safetensors:
        from safetensors.torch import save_file
        save_file(sd, directory / "model.safetensors")
    else:
        torch.save(sd, directory / "pytorch_model.bin")
    return directory


CHARS = "\n !&',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write_char_level(directory: Path, seed: int = 0) -> tuple[Path, GPT]:
    """nanoGPT's shakespeare_char layout: out-shakespeare-char/ckpt.pt and data/shakespeare_char/meta.pkl."""
    model = tiny_model(seed, vocab_size=len(CHARS), bias=False)
    ckpt = directory / "out-shakespeare-char" / "ckpt.pt"
    ckpt.parent.mkdir(parents=True)
    write_nanogpt(ckpt, model, dataset="shakespeare_char")
    meta = directory / "data" / "shakespeare_char" / "meta.pkl"
    meta.parent.mkdir(parents=True)
    with open(meta, "wb") as f:
        pickle.dump({"vocab_size": len(CHARS), "itos": dict(enumerate(CHARS)),
                     "stoi": {ch: i for i, ch in enumerate(CHARS)}}, f)
    return ckpt, model
