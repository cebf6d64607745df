"""model/cpu_step.py: the decode step in one C call gives forward_cached's logits and cache (in bf16, within its
rounding; in int8, those of the dequantized weights), the same greedy text, is chosen per row count by a timing
cached per machine, and stays out of what it does not serve (a forced product, an untied int8 head)."""
import json
import shutil
import sys

import pytest
import torch
import torch.nn as nn

from checkpoints import tiny_model
from model import SamplingParams, cpu_kernel, cpu_paths, cpu_step, generate
from model.cpu_step import FusedDecode
from model.kv_cache import KVCache
from model.loader import load_model
from model.quantize import quantize_model, quantize_rows
from model.settings import BUNDLED_CHECKPOINT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None,
                                reason="the kernel is built on Linux with a C compiler")


@pytest.fixture(autouse=True)
def _c_step_everywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no timing left by another test
    monkeypatch.setenv("CPU_MATMUL", "kernel")  # the C step at every row count, whatever this CPU would choose


def prefilled(model, lengths: list[int], max_len: int = 48) -> tuple[KVCache, torch.Tensor]:
    """A cache whose slot r holds a random prompt of lengths[r] tokens, and each row's next (token, position)."""
    g = torch.Generator().manual_seed(sum(lengths))
    cache = KVCache(model.config, len(lengths), max_len, "cpu", model.lm_head.weight.dtype)
    with torch.inference_mode():
        for r, n in enumerate(lengths):
            idx = torch.randint(0, 50257, (1, n), generator=g)
            model.forward_cached(idx, torch.arange(n)[None], cache.rows(r, r + 1), n, start=0)
    tokens = torch.randint(0, 50257, (len(lengths),), generator=g)
    return cache, torch.stack([tokens, torch.tensor(lengths)], dim=1)


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + 2 * r for r in range(cpu_kernel.MAX_ROWS)]])
@pytest.mark.parametrize("bias, gelu", [(True, "none"), (False, "tanh")])
def test_one_step_equals_forward_cached(lengths, bias, gelu):
    model = tiny_model(seed=len(lengths), bias=bias, gelu_approximate=gelu)
    fused_cache, inputs = prefilled(model, lengths)
    eager_cache, _ = prefilled(model, lengths)
    with torch.inference_mode():
        fused = FusedDecode.build(model, fused_cache).run(inputs)
        kv_len = max(lengths) + 1
        eager = model.forward_cached(inputs[:, :1], inputs[:, 1:], eager_cache.rows(0, len(lengths)), kv_len)
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused_cache.kv, eager_cache.kv, rtol=1e-5, atol=1e-6)  # the new keys and values too


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30]])
def test_a_bf16_step_is_the_fp32_step_within_bf16_rounding(lengths):
    half = tiny_model(seed=7).bfloat16()
    full = tiny_model(seed=7).bfloat16().float()  # the same bf16-rounded weights, computed in fp32
    half_cache, inputs = prefilled(half, lengths)
    full_cache, _ = prefilled(full, lengths)
    with torch.inference_mode():
        fused = FusedDecode.build(half, half_cache).run(inputs)
        eager = full.forward_cached(inputs[:, :1], inputs[:, 1:], full_cache.rows(0, len(lengths)), max(lengths) + 1)
    assert fused.dtype == torch.float32
    torch.testing.assert_close(fused, eager, rtol=2e-2, atol=2e-2)  # the cache's keys and values are bf16
    torch.testing.assert_close(half_cache.kv.float(), full_cache.kv, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30]])
def test_an_int8_step_is_the_step_of_its_dequantized_weights(lengths):
    # weight-only int8: each row's int8 weights times its scale, activations in fp32, so the fp32 step of those
    # products is the reference (PyTorch's int8 step quantizes the activations as well, and differs more)
    int8, full = quantize_model(tiny_model(seed=3)), tiny_model(seed=3)
    with torch.no_grad():
        for m in full.modules():
            if type(m) is nn.Linear:  # the head's too, and with it the tied token embedding
                q, scale = quantize_rows(m.weight)
                m.weight.copy_(q.float() * scale[:, None])
    int8_cache, inputs = prefilled(full, lengths)
    full_cache, _ = prefilled(full, lengths)
    with torch.inference_mode():
        fused = FusedDecode.build(int8, int8_cache).run(inputs)
        eager = full.forward_cached(inputs[:, :1], inputs[:, 1:], full_cache.rows(0, len(lengths)), max(lengths) + 1)
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(int8_cache.kv, full_cache.kv, rtol=1e-5, atol=1e-6)


def test_greedy_text_is_that_of_the_pytorch_step(monkeypatch):
    lm = load_model(BUNDLED_CHECKPOINT, device="cpu", dtype="float32")
    prompts = [lm.tokenizer.encode(p) for p in ("ROMEO:", "Now is the winter of our discontent", "O")]
    params = SamplingParams(max_tokens=48, temperature=0)
    fused = [s.tokens for s in generate(lm, prompts, params)]
    monkeypatch.setattr(FusedDecode, "build", classmethod(lambda cls, model, cache: None))
    assert [s.tokens for s in generate(lm, prompts, params)] == fused


def test_the_choice_is_timed_once_per_machine_then_followed(monkeypatch):
    monkeypatch.delenv("CPU_MATMUL")
    model = tiny_model()
    cache = KVCache(model.config, 2, 16, "cpu", torch.float32)
    timed = FusedDecode.build(model, cache)
    stored = json.loads(cpu_paths.cache_file().read_text())[cpu_paths.machine_key()]
    [(key, faster)] = [(k, v) for k, v in stored.items() if k.startswith("decode step")]
    assert len(faster) == len(cpu_step.BUCKETS) and all(isinstance(f, bool) for f in faster)
    assert (timed is None) == (not any(faster))  # None: PyTorch's step won every bucket
    assert timed is None or list(timed.faster) == faster

    def no_timing(*args):
        raise AssertionError("timed although the cache holds the choice")

    monkeypatch.setattr(cpu_step, "time_steps", no_timing)
    plan = [False, True, False, False, True]  # BUCKETS 1, 2, 4, 8, 16: a choice no timing would make
    cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {key: plan}}))
    followed = FusedDecode.build(model, cache)
    assert [followed.fits(rows) for rows in (1, 2, 3, 4, 5, 16, 17)] == [False, True, False, False, False, True, False]
    cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {key: [False] * 5}}))
    assert FusedDecode.build(model, cache) is None  # PyTorch's step at every row count


def test_serves_only_what_it_knows(monkeypatch):
    cache = KVCache(tiny_model().config, 2, 16, "cpu", torch.float32)
    assert FusedDecode.build(tiny_model(), cache) is not None
    bf16 = tiny_model().bfloat16()
    assert FusedDecode.build(bf16, KVCache(bf16.config, 2, 16, "cpu", torch.bfloat16)) is not None
    assert FusedDecode.build(bf16, cache) is None  # a cache of another dtype than the weights
    assert FusedDecode.build(quantize_model(tiny_model()), cache) is not None
    untied = tiny_model()
    untied.lm_head.weight = nn.Parameter(untied.lm_head.weight.clone())
    assert FusedDecode.build(quantize_model(untied), cache) is None  # an int8 head, an fp32 token embedding
    monkeypatch.setenv("CPU_MATMUL", "torch")  # a product forced by the operator is the one every step takes
    assert FusedDecode.build(tiny_model(), cache) is None
