"""Hugging Face GPT-2 layout: the config.json fields and the state dict of GPT2LMHeadModel for one of our models.

The reverse direction (reading a Hugging Face directory) lives in checkpoint.py with the other formats.
"""
from __future__ import annotations

import torch

from .checkpoint import HF_CONV1D_WEIGHTS
from .config import GPTConfig
from .gpt import GPT


def hf_config(config: GPTConfig, n_vocab: int) -> dict:
    """config.json for GPT2LMHeadModel; the vocabulary is cut to the tokenizer's, padding rows dropped."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": n_vocab,
        "n_positions": config.block_size,
        "n_ctx": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "activation_function": "gelu_new" if config.gelu_approximate == "tanh" else "gelu",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "bos_token_id": n_vocab - 1,
        "eos_token_id": n_vocab - 1,
        "tie_word_embeddings": True,
    }


def hf_state_dict(model: GPT, n_vocab: int) -> dict[str, torch.Tensor]:
    """GPT2LMHeadModel's state dict: Conv1D weights transposed, zero biases where nanoGPT had none (exact)."""
    out = {}
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight":
            continue  # tied to wte; safetensors refuses two names for one storage
        if key == "transformer.wte.weight":
            tensor = tensor[:n_vocab]
        out[key] = (tensor.t() if key.endswith(HF_CONV1D_WEIGHTS) else tensor).contiguous()
    if not model.config.bias:
        for name, module in model.named_modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.LayerNorm)) and name != "lm_head":
                out[f"{name}.bias"] = torch.zeros(module.weight.shape[0], dtype=module.weight.dtype)
    return out
