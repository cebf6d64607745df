"""model/cpu_kernel.py: the C products equal PyTorch's, decoding through them gives the same text, and without
them (no compiler, CPU_KERNEL=0) the model still decodes through PyTorch's products."""
import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from checkpoints import tiny_model
from model import SamplingParams, cpu_kernel, generate, gpt2_tokenizer
from model.checkpoint import Checkpoint
from model.cpu_step import FusedDecode
from model.generate import Decoder
from model.loader import LoadedModel

TOK = gpt2_tokenizer()
needs_kernel = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None,
                                  reason="the kernel is built on Linux with a C compiler")


@needs_kernel
@pytest.mark.parametrize("rows", [1, 3, cpu_kernel.MAX_ROWS])
@pytest.mark.parametrize("out_features", [1, 7, 8, 9, 2304])  # whole and partial blocks of eight rows of w
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("gelu", [None, "none", "tanh"])
def test_products_equal_pytorch(rows, out_features, bias, gelu):
    g = torch.Generator().manual_seed(rows * 1000 + out_features)
    in_features = 768
    x = torch.randn(rows, 1, in_features, generator=g)
    w = torch.randn(out_features, in_features, generator=g) / in_features ** 0.5
    b = torch.randn(out_features, generator=g) if bias else None
    y = cpu_kernel.linear(x, w, b, gelu)
    expected = F.linear(x.double(), w.double(), None if b is None else b.double())
    if gelu is not None:
        expected = F.gelu(expected, approximate=gelu)
    assert y.shape == (rows, 1, out_features) and y.dtype == torch.float32
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("stream", [False, True])  # eight weight rows side by side, or one after another
@pytest.mark.parametrize("out_features", [1, 9, 2304])
def test_one_row_products_equal_pytorch_in_both_reading_orders(stream, out_features):
    g = torch.Generator().manual_seed(out_features)
    x = torch.randn(1, 768, generator=g)
    w = torch.randn(out_features, 768, generator=g) / 768 ** 0.5
    b = torch.randn(out_features, generator=g)
    cpu_kernel.set_one_row_stream(stream)
    try:
        y = cpu_kernel.linear(x, w, b, "tanh")
    finally:
        cpu_kernel.set_one_row_stream(False)
    expected = F.gelu(F.linear(x.double(), w.double(), b.double()), approximate="tanh")
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("gelu", ["none", "tanh"])
def test_gelu_is_exact_to_a_few_units_in_the_last_place_over_its_whole_range(gelu):
    # x times the identity: y is GELU(x) itself, from -20 to 20, where erf and tanh saturate and GELU is tiny
    x = torch.linspace(-20, 20, 32 * 256).reshape(32, 256)
    y = cpu_kernel.linear(x, torch.eye(256), None, gelu)
    expected = F.gelu(x.double(), approximate=gelu)
    torch.testing.assert_close(y.double(), expected, rtol=0, atol=1e-6)
    big = expected.abs() > 1e-3
    # relative too: 1 + erf(z) near z = -2.3 (GELU ~ -1e-3) taken as 1 minus a number near 1 loses digits
    assert ((y.double() - expected).abs() / expected.abs())[big].max() < 4e-6
    assert torch.equal(y[x > 10], x[x > 10]) and (y[x < -10].abs() < 1e-20).all()


@needs_kernel
@pytest.mark.parametrize("rows", [1, 5, cpu_kernel.MAX_ROWS])
@pytest.mark.parametrize("gelu", [None, "none"])
def test_bf16_products_are_the_exact_products_of_the_bf16_numbers(rows, gelu):
    # summed in fp32 and rounded once: the exact product of the bf16 inputs, rounded to bf16
    g = torch.Generator().manual_seed(rows)
    x = torch.randn(rows, 768, generator=g).bfloat16()
    w = (torch.randn(2304, 768, generator=g) / 768 ** 0.5).bfloat16()
    b = torch.randn(2304, generator=g).bfloat16()
    y = cpu_kernel.linear(x, w, b, gelu)
    expected = F.linear(x.double(), w.double(), b.double())
    if gelu is not None:
        expected = F.gelu(expected)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, expected.bfloat16(), rtol=1.6e-2, atol=1e-5)  # one bf16 rounding
    assert (y.double() - expected).abs().max() <= (expected.abs() * 2**-8).max()


def test_declines_what_it_does_not_serve():
    w = torch.randn(16, 32)
    assert cpu_kernel.linear(torch.randn(cpu_kernel.MAX_ROWS + 1, 32), w, None) is None  # oneDNN's GEMM is faster
    assert cpu_kernel.linear(torch.randn(1, 16), w.t(), None) is None  # not contiguous
    assert cpu_kernel.linear(torch.randn(1, 32, dtype=torch.float64), w.double(), None) is None
    assert cpu_kernel.linear(torch.randn(cpu_kernel.MAX_ROWS + 1, 32).bfloat16(), w.bfloat16(), None) is None


@needs_kernel
def test_one_openmp_runtime_is_loaded():
    """The kernel's libgomp.so.1 must resolve to the copy torch loaded: two runtimes would make two thread pools
    that spin against each other on the same cores."""
    assert cpu_kernel.library() is not None
    with open("/proc/self/maps") as f:
        runtimes = {line.split()[-1] for line in f if "libgomp" in line}
    assert len(runtimes) == 1, runtimes


@needs_kernel
def test_decoding_with_or_without_the_kernel_gives_the_same_text(monkeypatch):
    monkeypatch.setenv("CPU_MATMUL", "kernel")  # whether the timing would choose it on this CPU or not
    model = tiny_model(seed=5, bias=True)
    lm = LoadedModel(model, TOK, Checkpoint("tiny", "test", model.config, {}, TOK), torch.device("cpu"),
                     torch.float32)
    kernel_linear, served, stepped = cpu_kernel.linear, [], []

    def counted(*args):
        y = kernel_linear(*args)
        served.append(y is not None)
        return y

    monkeypatch.setattr(cpu_kernel, "linear", counted)
    step = FusedDecode.run
    monkeypatch.setattr(FusedDecode, "run", lambda self, *args, **rows: stepped.append(1) or step(self, *args, **rows))
    prompts = [TOK.encode("Once upon a time"),
               TOK.encode("In a hole in the ground there lived a hobbit. Not a nasty, dirty, wet hole")]
    params = SamplingParams(max_tokens=30, temperature=0)
    through_kernel = [s.tokens for s in generate(lm, prompts, params)]
    # the prefills and decode steps through the C step (model/cpu_step.py), any product outside it the kernel's
    assert stepped and all(served)
    monkeypatch.setattr(cpu_kernel, "library", lambda: None)  # neither: PyTorch's products and step
    assert [s.tokens for s in generate(lm, prompts, params)] == through_kernel


@needs_kernel
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the flags that turn the vector paths off are x86's")
def test_the_portable_build_passes_the_kernels_tests(tmp_path):
    """Built without AVX, AVX2, FMA and AVX-512, the kernel is its `omp simd` loops only: what an Arm CPU (NEON by
    the compiler) or an older x86 one runs. This file's tests, the C step's and int8's pass on that build too."""
    marker = tmp_path / "portable-build-ran"
    compiler = tmp_path / "cc"
    compiler.write_text(f'#!/bin/sh\ntouch {marker}\nexec cc "$@" -mno-avx -mno-avx2 -mno-fma -mno-f16c -mno-avx512f\n')
    compiler.chmod(0o755)
    here = Path(__file__).parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not portable_build",
         str(here / "test_cpu_kernel.py"), str(here / "test_cpu_step.py"), str(here / "test_quantize.py")],
        env={**os.environ, "CC": str(compiler)}, cwd=here.parent.parent, capture_output=True, text=True,
        timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert marker.exists()  # the nested run's empty cache held no kernel: it built this one


def test_without_a_compiler_it_logs_once_and_declines(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached there
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.WARNING, logger="model.cpu_kernel"):
        assert cpu_kernel.library.__wrapped__() is None
    assert "CPU kernel unavailable" in caplog.text
    monkeypatch.setenv("CC", "cc")
    monkeypatch.setenv("CPU_KERNEL", "0")
    assert cpu_kernel.library.__wrapped__() is None


@needs_kernel
@pytest.mark.parametrize("hub_keys", [False, True])
def test_a_hugging_face_checkpoint_decodes_through_the_kernel(tmp_path, monkeypatch, hub_keys):
    # its Conv1D weights arrive transposed; were they left as views, every product would bypass the kernel
    from checkpoints import write_hf
    from model.loader import load_model

    monkeypatch.setenv("CPU_MATMUL", "kernel")  # the tiny model's timed choice may be PyTorch's product
    lm = load_model(write_hf(tmp_path / "hf", tiny_model(5), hub_keys=hub_keys), device="cpu")
    real, served = cpu_kernel.linear, []

    def counted(*args, **kwargs):
        y = real(*args, **kwargs)
        served.append(y is not None)
        return y

    monkeypatch.setattr(cpu_kernel, "linear", counted)
    with torch.inference_mode():  # PyTorch's forward (a Decoder's prefill may run in the C step, below)
        lm.model(torch.tensor([TOK.encode("Once upon a time")]))
    assert served and all(served)  # every product of the forward (4 per block and the head)
    assert Decoder(lm, max_batch=1).fused is not None  # decode steps in one call, which takes contiguous weights only
