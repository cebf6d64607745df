"""model/panels.py: fp32 and bf16 weights in panels give F.linear's products (summed in fp32) for any row count,
the token embedding's rows, the plain layout's decode step and greedy tokens, and are what a served fp32 or bf16
model holds where the CPU has AVX-512 or AVX2 (not a model loaded for export, nor one whose product CPU_MATMUL
forces). A greedy step of an fp32 model in panels takes its head's bf16 copy and still gives the fp32 head's
argmax."""
import copy
import ctypes
import json
import logging
import os
import re
import shutil
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from checkpoints import tiny_model
from model import cpu_kernel, cpu_paths, cpu_step, panels
from model.cpu_step import FusedDecode
from model.generate import generate
from model.loader import load_model
from model.panels import PanelEmbedding, PanelLinear, panels_of, to_panels
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT
from test_cpu_step import prefilled
from test_quantize import sharpened_greedy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None
                                or not cpu_kernel.has_panels(), reason="panels are multiplied with AVX-512 or AVX2")


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no timing left by another test


@pytest.mark.parametrize("rows", [1, 5, 6, 7, 16, 33, 70])  # groups of six rows, spans of inputs past 6 rows
@pytest.mark.parametrize("out_features, in_features", [(100, 48), (64, 96), (200, 37), (3, 300)])
@pytest.mark.parametrize("bias, gelu", [(True, None), (False, "none"), (True, "tanh")])
@pytest.mark.parametrize("w_dtype, x_dtype", [(torch.float32, torch.float32), (torch.bfloat16, torch.float32),
                                              (torch.bfloat16, torch.bfloat16)])
def test_a_panel_product_is_the_product_in_fp32(rows, out_features, in_features, bias, gelu, w_dtype, x_dtype):
    in_features += in_features % panels.pair_of(w_dtype)  # bf16 pairs: an even count of inputs
    g = torch.Generator().manual_seed(rows * out_features + in_features)
    w = torch.randn(out_features, in_features, generator=g).to(w_dtype)
    b = torch.randn(out_features, generator=g) if bias else None
    x = torch.randn(rows, in_features, generator=g).to(x_dtype)
    expected = F.linear(x.float(), w.float(), b)  # bf16 widened: exact, and so are products of two bf16
    expected = expected if gelu is None else F.gelu(expected, approximate=gelu)
    y = PanelLinear(panels_of(w), out_features, b)(x, gelu)
    assert y.dtype == x_dtype
    tolerance = 1e-5 if x_dtype == torch.float32 else 1e-2  # bf16 x: the result rounded to bf16 once
    torch.testing.assert_close(y, expected.to(x_dtype), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("w_dtype, x_dtype", [(torch.float32, torch.float32), (torch.bfloat16, torch.float32),
                                              (torch.bfloat16, torch.bfloat16)])
def test_a_rows_product_is_the_same_bits_beside_any_rows(w_dtype, x_dtype):
    """Each row sums input by input in one order whatever rows share its group, span or block of 256 rows (600:
    two blocks and a remainder): a prompt prefilled with others gets the bits it gets alone, which the test above
    compares with F.linear."""
    g = torch.Generator().manual_seed(7)
    w = torch.randn(200, 300, generator=g).to(w_dtype)
    x = torch.randn(600, 300, generator=g).to(x_dtype)
    layer = PanelLinear(panels_of(w), 200, torch.randn(200, generator=g))
    alone = torch.cat([layer(x[row:row + 1], "tanh") for row in range(len(x))])
    assert torch.equal(layer(x, "tanh"), alone)


@pytest.mark.skipif(b" avx512f" not in cpu_kernel.cpu_signature(), reason="compares the AVX2 build with AVX-512's")
def test_the_avx2_build_gives_the_avx512_builds_bits(tmp_path, monkeypatch):
    """Without AVX-512 (AVX2 and FMA), six rows take one 16-output line of a step at a time in 256-bit vectors: per
    output the same FMAs in the same order as with AVX-512, so a CPU of either kind gives a prompt the same bits
    (fp32 and bf16 panels, one to 70 rows, a last panel partly filled, and the argmax head's exact lines)."""
    native = cpu_kernel.library()
    compiler = tmp_path / "cc"  # the kernel's own build, its compiler told to leave AVX-512 out
    compiler.write_text(f'#!/bin/sh\nexec {os.environ.get("CC", "cc")} "$@" -mno-avx512f\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    builds = {"avx2": cpu_kernel.library.__wrapped__(), "avx512": native}
    assert builds["avx2"] is not None and builds["avx2"]._name != native._name
    g = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.bfloat16):
        w = torch.randn(200, 96, generator=g).to(dtype)
        laid, b = panels_of(w), torch.randn(200, generator=g)
        for rows in (1, 5, 6, 7, 16, 70):
            x = torch.randn(rows, 96, generator=g)
            ys = {name: torch.empty(rows, 200) for name in builds}
            for name, lib in builds.items():
                getattr(lib, cpu_kernel.PANELS[dtype])(x.data_ptr(), laid.data_ptr(), b.data_ptr(),
                                                      ys[name].data_ptr(), rows, 96, 200, 1, 2)  # GELU
            assert torch.equal(ys["avx2"], ys["avx512"]), (dtype, rows)
            assert ys["avx2"].abs().sum() > 0
        if dtype == torch.float32:
            lines = {name: torch.empty(16) for name in builds}
            for name, lib in builds.items():
                lib.panel_line(ctypes.c_void_p(x[0].data_ptr()), ctypes.c_void_p(laid.data_ptr()), ctypes.c_long(96),
                               ctypes.c_long(130), ctypes.c_void_p(lines[name].data_ptr()))
            assert torch.equal(lines["avx2"], lines["avx512"]) and lines["avx2"].abs().sum() > 0


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 200])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_embedding_finds_its_rows_in_panels(rows, dtype):
    w = torch.randn(rows, 24).to(dtype)
    idx = torch.tensor([[0, rows - 1], [rows // 2, 0]])
    assert torch.equal(PanelEmbedding(panels_of(w))(idx), w[idx])


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + r for r in range(cpu_kernel.MAX_ROWS)]])
@pytest.mark.parametrize("bias, gelu", [(True, "none"), (False, "tanh")])
def test_a_step_from_panels_equals_forward_cached(monkeypatch, lengths, bias, gelu):
    monkeypatch.setenv("CPU_MATMUL", "panels")  # the C step at every row count
    model = tiny_model(seed=len(lengths), bias=bias, gelu_approximate=gelu)
    panels = to_panels(copy.deepcopy(model))
    fused_cache, inputs = prefilled(panels, lengths)  # prefilled through the panels' PyTorch forward
    eager_cache, _ = prefilled(model, lengths)
    torch.testing.assert_close(fused_cache.kv, eager_cache.kv, rtol=1e-4, atol=1e-5)
    with torch.inference_mode():
        fused = FusedDecode.build(panels, fused_cache).run(inputs)
        eager = model.forward_cached(inputs[:, :1], inputs[:, 1:], eager_cache.rows(0, len(lengths)), max(lengths) + 1)
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + r for r in range(cpu_kernel.MAX_ROWS)]])
def test_a_bf16_step_from_panels_equals_the_plain_layouts(monkeypatch, lengths):
    # both compute in fp32 between bf16 matrices; only the order of the sums differs
    monkeypatch.setenv("CPU_MATMUL", "panels")  # the C step at every row count
    model = tiny_model(seed=len(lengths)).bfloat16()
    panels = to_panels(copy.deepcopy(model))
    plain_cache, inputs = prefilled(model, lengths)
    panels_cache, _ = prefilled(panels, lengths)  # through the panels' PyTorch forward, rounded to bf16 as it goes
    torch.testing.assert_close(panels_cache.kv, plain_cache.kv, rtol=2e-2, atol=2e-2)
    panels_cache.kv.copy_(plain_cache.kv)
    with torch.inference_mode():
        from_panels = FusedDecode.build(panels, panels_cache).run(inputs)
        plain = FusedDecode.build(model, plain_cache).run(inputs)
    torch.testing.assert_close(from_panels, plain, rtol=1e-4, atol=1e-4)
    # the same keys and values written, each rounded to bf16 from sums in two orders: at most one bf16 step apart
    torch.testing.assert_close(panels_cache.kv, plain_cache.kv, rtol=2 ** -7, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("step", ["kernel", "pytorch"])
def test_greedy_tokens_are_the_plain_layouts_on_a_sharpened_model(monkeypatch, step, dtype):
    monkeypatch.setenv("CPU_MATMUL", "kernel")
    plain = sharpened_greedy(dtype, panels=True)  # CPU_MATMUL=kernel: the plain layout, served
    monkeypatch.setenv("CPU_MATMUL", "panels")
    if step == "pytorch":
        monkeypatch.setattr(FusedDecode, "build", classmethod(lambda cls, model, cache: None))
    panels = sharpened_greedy(dtype, panels=True)
    assert panels[0] == panels[1] == plain[0]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_served_model_holds_panels_and_nothing_else_does(monkeypatch, dtype):
    monkeypatch.setenv("CPU_MATMUL", "panels")
    served = load_model(BUNDLED_CHECKPOINT, "cpu", dtype, panels=True)
    assert all(isinstance(m, PanelLinear) and m.panels.dtype == getattr(torch, dtype) for m in served.model.products())
    assert isinstance(served.model.transformer.wte, PanelEmbedding)
    assert served.model.transformer.wte.panels is served.model.lm_head.panels  # tied: one copy
    exported = load_model(BUNDLED_CHECKPOINT, "cpu", dtype)  # export and import keep the state_dict's layout
    assert all(type(m) is nn.Linear for m in exported.model.products())
    assert served.parameters == exported.parameters == exported.model.num_params(non_embedding=False)
    int8 = load_model(BUNDLED_CHECKPOINT, "cpu", dtype, quantize="int8", panels=True)
    assert not any(isinstance(m, PanelLinear) for m in int8.model.products())
    for forced in ("kernel", "onednn"):  # an operator's forced product reads the plain layout
        monkeypatch.setenv("CPU_MATMUL", forced)
        assert type(load_model(BUNDLED_CHECKPOINT, "cpu", dtype, panels=True).model.lm_head) is nn.Linear


@pytest.mark.parametrize("faster", [True, False])
def test_the_layout_is_timed_once_per_machine_then_followed(monkeypatch, faster):
    monkeypatch.delenv("CPU_MATMUL", raising=False)
    calls = []
    monkeypatch.setattr(panels, "time_panels", lambda layers, choice: calls.append(len(layers)) or faster)
    for _ in range(2):
        lm = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", panels=True)
        assert isinstance(lm.model.lm_head, PanelLinear) == faster
    assert calls == [len(lm.model.products())]  # the second load read the cached choice


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_timing_the_layout_passes_every_bucket_both_ways(caplog, dtype):
    model = load_model(BUNDLED_CHECKPOINT, "cpu", dtype).model
    with caplog.at_level(logging.INFO, logger="model.panels"):
        panels.time_panels(model.products(), cpu_paths.choose(model))
    report = caplog.records[-1].getMessage()
    assert all(re.search(rf"rows {rows}: \d+\.\d+ / \d+\.\d+", report) for rows in cpu_paths.BUCKETS), report


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + r for r in range(cpu_kernel.MAX_ROWS)]])
@pytest.mark.parametrize("vocab, argmax_below", [(50304, 50257), (50304, 50304), (50304, 100),
                                                 (50290, 50290), (50290, 50257)])  # a last panel of 50 outputs
def test_an_argmax_step_gives_the_fp32_heads_argmax_in_its_bits(monkeypatch, lengths, vocab, argmax_below):
    monkeypatch.setenv("CPU_MATMUL", "panels")
    model = to_panels(tiny_model(seed=len(lengths), vocab_size=vocab))
    cache, inputs = prefilled(model, lengths)
    fused = FusedDecode.build(model, cache)
    assert "fp32" not in fused.argmax_head  # CPU_MATMUL=panels: untimed, estimated at every row count
    for head in cpu_step.estimating_heads(model):  # on an AMX Xeon by tiles too
        with torch.inference_mode():
            full, estimated = fused.run(inputs), fused.run(inputs, argmax_below, head)  # the same keys and values
        best = full[:, :argmax_below].argmax(dim=-1, keepdim=True)
        assert torch.equal(estimated[:, :argmax_below].argmax(dim=-1, keepdim=True), best), head
        assert torch.equal(estimated.gather(1, best), full.gather(1, best)), head
        assert (estimated != full).float().mean() > 0.9, head  # the rest: the bf16 head's estimates, each its own
        assert (estimated - full).abs().max() < 1e-2 * full.abs().max(), head


def test_a_near_tie_that_bf16_gets_wrong_is_decided_in_fp32(monkeypatch):
    monkeypatch.setenv("CPU_MATMUL", "panels")
    model = tiny_model(seed=3)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(model.config.n_embd, generator=g).bfloat16().float()  # every row's final layer norm
    for _ in range(1000):  # two head rows whose order bf16's rounding reverses
        w1 = torch.randn(model.config.n_embd, generator=g)
        w2 = w1 + torch.randn(model.config.n_embd, generator=g) * w1.abs() * 2e-3
        e1, e2, a1, a2 = (h.double() @ w.double() for w in (w1, w2, w1.bfloat16(), w2.bfloat16()))
        if e1 > 0 and e2 > e1 + 1e-4 and a1 > a2 + 1e-4:
            break
    else:
        pytest.fail("no such pair")
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(h)
        model.lm_head.weight.mul_(0.01)  # the other logits near 0
        model.lm_head.weight[5], model.lm_head.weight[45] = w1, w2  # on two lines of 16
    model = to_panels(model)
    cache, inputs = prefilled(model, [4, 7])
    fused = FusedDecode.build(model, cache)
    bounds = fused._gpt.head_error, fused._gpt.head_norm, fused._gpt.head_norm_bf16
    for head in cpu_step.estimating_heads(model):
        fused._gpt.head_error, fused._gpt.head_norm, fused._gpt.head_norm_bf16 = bounds
        with torch.inference_mode():
            assert fused.run(inputs).argmax(dim=-1).tolist() == [45, 45]
            assert fused.run(inputs, 50257, head).argmax(dim=-1).tolist() == [45, 45], head
            fused._gpt.head_error = fused._gpt.head_norm = fused._gpt.head_norm_bf16 = 0.0  # no bound: bf16's order
            assert fused.run(inputs, 50257, head).argmax(dim=-1).tolist() == [5, 5], head


@pytest.mark.parametrize("params, argmax_only", [
    (SamplingParams(max_tokens=6, temperature=0), True),
    (SamplingParams(max_tokens=6, temperature=0, logprobs=2), False),
    (SamplingParams(max_tokens=6, temperature=0, frequency_penalty=0.5), False),
    (SamplingParams(max_tokens=6, temperature=0, logit_bias={13: 2.0}), False),
    (SamplingParams(max_tokens=6, temperature=1, seed=0), False)])
def test_only_steps_that_read_nothing_but_the_argmax_take_the_bf16_head(monkeypatch, params, argmax_only):
    monkeypatch.setenv("CPU_MATMUL", "panels")
    lm = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", panels=True)
    asked, run = [], FusedDecode.run
    monkeypatch.setattr(FusedDecode, "run",
                        lambda self, inputs, below=0, **rows: asked.append(below) or run(self, inputs, below, **rows))
    generate(lm, [lm.tokenizer.encode("ROMEO:")] * 2, params)
    assert asked == [lm.tokenizer.n_vocab if argmax_only else 0] * 7  # the two prompts' prefills, five steps


@pytest.mark.skipif(b" amx_bf16" not in cpu_kernel.cpu_signature(), reason="AMX tiles: a Sapphire Rapids Xeon or newer")
def test_a_cpu_with_amx_tiles_estimates_with_them():
    # Linux lends the tiles' state on request, refused where a signal stack (faulthandler's, which pytest installs)
    # is too small for it: the heads above would then be checked without tiles
    assert cpu_step.amx_ready()
    assert cpu_step.estimating_heads(tiny_model()) == ("amx", "bf16")


def test_the_argmax_head_is_timed_once_per_machine_then_followed(monkeypatch):
    monkeypatch.delenv("CPU_MATMUL", raising=False)
    model = to_panels(tiny_model())
    cache, inputs = prefilled(model, [5, 9])
    monkeypatch.setattr(cpu_step, "time_steps", lambda *args: [True] * len(cpu_step.BUCKETS))  # the C step: taken
    timed = FusedDecode.build(model, cache)
    stored = json.loads(cpu_paths.cache_file().read_text())[cpu_paths.machine_key()]
    [(key, plan)] = [(k, v) for k, v in stored.items() if k.startswith("argmax head")]
    assert len(plan) == len(cpu_step.BUCKETS) and set(plan) <= {"fp32", *cpu_step.estimating_heads(model)}
    assert timed.argmax_head == tuple(plan)
    monkeypatch.setattr(cpu_step, "time_argmax_head", lambda *args: pytest.fail("timed although cached"))
    monkeypatch.setattr(cpu_step, "time_steps", lambda *args: pytest.fail("timed although cached"))
    step_key = key.removeprefix("argmax head, ")
    for plan in (["bf16", "fp32", "bf16", "bf16", "bf16", "bf16"], ["fp32"] * 6):  # rows 1, 2, 4, 8, 16, 32
        cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {step_key: [True] * 6, key: plan}}))
        fused = FusedDecode.build(model, cache)
        with torch.inference_mode():
            for rows in (1, 2):
                estimated = not torch.equal(fused.run(inputs[:rows], 50257), fused.run(inputs[:rows]))
                assert estimated == (plan[rows - 1] != "fp32")
