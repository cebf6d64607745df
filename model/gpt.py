"""GPT-2 as nanoGPT writes it, plus a KV-cached forward for serving.

Parameter names are nanoGPT's (which are OpenAI's and Hugging Face's), so nanoGPT, build-nanogpt and
Hugging Face state dicts load by key. References: karpathy/nanoGPT model.py, OpenAI's gpt-2 TF code.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from . import cpu_paths
from .config import GPTConfig
from .kv_cache import LayerCache, Where, write_index
from .panels import PanelLinear


def linear(x: torch.Tensor, layer: nn.Module, gelu: nn.GELU | None = None) -> torch.Tensor:
    """layer(x), then gelu if given. CPU inference in fp32 or bf16 takes the product model/cpu_paths.py chose
    for this CPU, the layer's shape and x's rows (the C kernel, oneDNN with the GELU fused, or MKL), or the panels'
    (model/panels.py); all sum in fp32, in different orders. Training keeps F.linear (the others have no autograd)."""
    if isinstance(layer, PanelLinear):
        return layer(x, None if gelu is None else gelu.approximate)
    if (type(layer) is nn.Linear  # not model/quantize.py's int8 layers
            and x.dtype in (torch.float32, torch.bfloat16) and x.is_cpu and not torch.is_grad_enabled()):
        return cpu_paths.product(x, layer, None if gelu is None else gelu.approximate)
    return layer(x) if gelu is None else gelu(layer(x))


def layer_norm(x: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
    """ln(x) without nn.Module's call machinery: a decode step makes 25 of these calls, and on a 2-core CPU
    the machinery costs more than the normalisation itself (0.45 ms a step for GPT-2 124M)."""
    return torch.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


# attention kernels for a KV-cached forward run eagerly: every backend but cuDNN's, which builds a kernel for
# each new shape at its first call (0.74 s for the first, then ~44 ms each on an H200), and a server meets new
# shapes all the time (each prompt length, each number of prompts prefilled together). Flash and memory-efficient
# attention start on a new shape in ~0.03 ms (bench/results/h200-2026-11-30-s8/).
EAGER_ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None, where: Where | None = None,
                kv_len: int = 0, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.size()  # batch, sequence length, n_embd
        q, k, v = linear(x, self.c_attn).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is None:
            dropout = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            k, v = cache.write(k, v, where, kv_len)  # (B, nh, kv_len, hs)
            # mask is None when every cached key is visible (decode) or the prompt starts at 0 (prefill)
            causal = mask is None and T > 1
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return F.dropout(linear(y, self.c_proj), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate=config.gelu_approximate)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(linear(linear(x, self.c_fc, self.gelu), self.c_proj), self.dropout, self.training)


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, *cache_args) -> torch.Tensor:
        x = x + self.attn(layer_norm(x, self.ln_1), *cache_args)
        return x + self.mlp(layer_norm(x, self.ln_2))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        # weight tying, as GPT-2, nanoGPT and build-nanogpt do (https://paperswithcode.com/method/weight-tying)
        self.lm_head.weight = self.transformer.wte.weight

    def init_weights(self, seed: int | None = None) -> None:
        """GPT-2 initialisation (nanoGPT's): N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:  # LayerNorm gains
                nn.init.ones_(p)
            else:
                std = 0.02 / (2 * self.config.n_layer) ** 0.5 if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, mean=0.0, std=std, generator=generator)

    def product_slots(self) -> list[tuple[nn.Module, str]]:
        """(module, attribute name) of each block's four products, for replacing them (int8, panels)."""
        return [(parent, name) for b in self.transformer.h
                for parent, name in ((b.attn, "c_attn"), (b.attn, "c_proj"), (b.mlp, "c_fc"), (b.mlp, "c_proj"))]

    def products(self) -> list[nn.Module]:
        """The head and each block's four products: nn.Linear, or model/quantize.py's int8 layers, or panels."""
        return [self.lm_head] + [getattr(parent, name) for parent, name in self.product_slots()]

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; position embeddings excluded by default, as nanoGPT reports it."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """nanoGPT's forward: full causal attention, no cache. Returns (logits, loss)."""
        B, T = idx.size()
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size {self.config.block_size}")
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            # inference: only the last position is sampled, so only it goes through lm_head
            return linear(x[:, [-1], :], self.lm_head), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def forward_cached(self, idx: torch.Tensor, input_pos: torch.Tensor, caches: list[LayerCache],
                       kv_len: int, start: int | None = None,
                       attention: list[SDPBackend] | None = EAGER_ATTENTION,
                       last: torch.Tensor | None = None) -> torch.Tensor:
        """Run T new tokens per row against the KV cache; returns the logits at each row's last token, (B, vocab).

        idx and input_pos are (B, T); kv_len is 1 + the largest position, so attention reads cache[:, :, :kv_len].
        start, when given, says every row holds positions start..start+T-1 (a prefill, or rows in step): the
        cache is then written through a slice, and often no mask is needed. attention: the SDPA backends allowed
        on CUDA, None for torch's own choice (a CUDA graph, captured once, may take cuDNN's); a CPU has no cuDNN,
        and the choice is left to torch there. last, a (1,) tensor: the position whose logits are returned, for
        prompts padded after their end (default: the last, T - 1).
        """
        B, T = idx.size()
        x = self.transformer.wte(idx) + self.transformer.wpe(input_pos)
        mask = None
        every_key_visible = T == 1 and start == kv_len - 1
        if not (every_key_visible or (start == 0 and T == kv_len)):  # the latter is a plain causal prefill
            # key j is visible to the query at position p iff j <= p; also hides stale keys of shorter rows.
            # Additive and built once: SDPA on CPU takes a float mask faster than a bool one (20% at batch 32)
            keys = torch.arange(kv_len, device=idx.device)
            hidden = keys[None, None, :] > input_pos[:, :, None]  # (B, T, kv_len)
            mask = torch.zeros(hidden.shape, dtype=x.dtype, device=x.device).masked_fill_(hidden, float("-inf"))
            mask = mask.unsqueeze(1)  # (B, 1, T, kv_len)
        where = write_index(input_pos, start)
        with sdpa_kernel(attention) if attention is not None and x.is_cuda else contextlib.nullcontext():
            for block, cache in zip(self.transformer.h, caches):
                x = block(x, cache, where, kv_len, mask)
        x = x[:, -1, :] if last is None else x.index_select(1, last).squeeze(1)
        return linear(layer_norm(x, self.transformer.ln_f), self.lm_head)
