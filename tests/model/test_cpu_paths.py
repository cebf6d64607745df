"""model/cpu_paths.py: the product per shape and row count is timed once per machine and cached (again for
other buckets), a cached choice is followed exactly, CPU_MATMUL forces one, and every product decodes the
bundled model's greedy tokens."""
from __future__ import annotations

import json

import pytest
import torch

from checkpoints import tiny_model
from model import cpu_kernel, cpu_paths
from model.generate import generate
from model.loader import load_model
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CPU_MATMUL", raising=False)


def _no_timing(by_shape):
    raise AssertionError(f"timed {list(by_shape)} although the cache holds the choice")


def test_timed_once_then_read_from_the_cache(monkeypatch):
    first = cpu_paths.choose(tiny_model(1))
    stored = json.loads(cpu_paths.cache_file().read_text())[cpu_paths.machine_key()]
    products = {key: value for key, value in stored.items() if key != cpu_paths.ONE_ROW_KEY}
    assert products == {shape: list(paths) for shape, paths in first.items()}
    assert set(first) == {"float32 96x32", "float32 32x32", "float32 128x32", "float32 32x128",
                          f"float32 {tiny_model().config.vocab_size}x32"}
    for paths in first.values():
        assert len(paths) == len(cpu_paths.BUCKETS) and set(paths) <= set(cpu_paths.PRODUCTS)
        assert paths[-1] != "kernel"  # it takes at most MAX_ROWS rows
    monkeypatch.setattr(cpu_paths, "time_products", _no_timing)
    model = tiny_model(2)
    assert cpu_paths.choose(model) == first
    assert model.lm_head.cpu_paths == first[f"float32 {model.config.vocab_size}x32"]


def test_the_one_row_reading_order_is_timed_once_per_machine_then_followed(monkeypatch):
    if not cpu_kernel.has_one_row_orders():
        pytest.skip("built without AVX-512 the kernel has one reading order")
    orders = []
    monkeypatch.setattr(cpu_kernel, "set_one_row_stream", orders.append)
    cpu_paths.choose(tiny_model(1))
    stored = json.loads(cpu_paths.cache_file().read_text())[cpu_paths.machine_key()]
    timed = stored[cpu_paths.ONE_ROW_KEY]
    assert isinstance(timed, bool) and orders[-1] == timed  # both orders timed, then the faster one set
    assert set(orders[:-1]) == {False, True}

    def no_timing(layers):
        raise AssertionError("timed although the cache holds the choice")

    monkeypatch.setattr(cpu_paths, "time_one_row", no_timing)
    for cached in (not timed, timed):  # a choice no timing made, so that following it cannot be luck
        entry = {**stored, cpu_paths.ONE_ROW_KEY: cached}
        cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): entry}))
        orders.clear()
        cpu_paths.choose(tiny_model(2))
        assert orders == [cached]


def test_a_kernel_with_one_reading_order_times_none(monkeypatch):
    # built without AVX-512 the two orders are one code: timing them would cost a first load ~50 ms for nothing
    monkeypatch.setattr(cpu_kernel, "has_one_row_orders", lambda: False)
    monkeypatch.setattr(cpu_paths, "time_one_row", lambda layers: pytest.fail("timed a kernel with one order"))
    cpu_paths.choose(tiny_model(1))
    assert cpu_paths.ONE_ROW_KEY not in json.loads(cpu_paths.cache_file().read_text())[cpu_paths.machine_key()]


def test_a_choice_made_for_other_buckets_is_timed_again(monkeypatch):
    # a cache written by a release with fewer buckets held one product too few per shape: read as this release's,
    # a row count past its last bucket raised IndexError in every request
    buckets = cpu_paths.BUCKETS
    monkeypatch.setattr(cpu_paths, "BUCKETS", buckets[:-1])
    cpu_paths.choose(tiny_model(1))
    monkeypatch.setattr(cpu_paths, "BUCKETS", buckets)
    model = tiny_model(2)
    chosen = cpu_paths.choose(model)
    assert all(len(paths) == len(cpu_paths.BUCKETS) for paths in chosen.values())
    with torch.no_grad():
        cpu_paths.product(torch.randn(200, 32), model.transformer.h[0].attn.c_attn)  # the last bucket


def test_a_burst_of_load_while_timing_does_not_decide_a_bucket(monkeypatch):
    # Two products on a clock that only they advance: "kernel" takes 1.0 a call, "torch" 1.2, each 1.6x as long
    # during a burst of load lasting three passes (a bucket's two samples of one product, and the other's
    # between them, in a pass-per-bucket order). Wherever the burst falls, "kernel" wins every bucket and shape.
    class Clock:
        now = 0.0

        @staticmethod
        def perf_counter():
            return Clock.now

    def product(cost):
        def timed(x, weight, bias, gelu):
            Clock.now += cost * (1.6 if burst <= Clock.now < burst + length else 1.0)
            return x
        return timed

    monkeypatch.setattr(cpu_paths, "time", Clock)
    monkeypatch.setattr(cpu_paths, "PRODUCTS", {"kernel": product(1.0), "torch": product(1.2)})
    layers = [m for m in tiny_model(1).modules() if isinstance(m, torch.nn.Linear)]
    burst, length = -1.0, 0.0
    cpu_paths.time_products(layers)
    passes = cpu_paths.REPEATS * len(cpu_paths.BUCKETS) * 2
    length = 3 * Clock.now / passes
    start, end = Clock.now, 2 * Clock.now
    for burst in torch.arange(start, end, length / 4).tolist():
        Clock.now = start  # the first (untimed) calls of each product fall before the burst, as in a real run
        chosen = cpu_paths.time_products(layers)
        assert all(paths == ["kernel"] * len(cpu_paths.BUCKETS) for paths in chosen.values()), f"burst at {burst}"


def test_a_cached_choice_is_followed_exactly(monkeypatch):
    # a choice no timing would make, so that following it cannot be luck: PyTorch's product for one row,
    # oneDNN's for 2..4, the kernel for 5..32 rows, oneDNN's beyond
    plan = ["torch", "onednn", "onednn", "kernel", "kernel", "kernel", "onednn"]
    model = tiny_model(3)
    shapes = {cpu_paths.shape_key(m.weight) for m in model.modules() if type(m) is torch.nn.Linear}
    cpu_paths.cache_file().parent.mkdir(parents=True, exist_ok=True)
    cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {s: plan for s in shapes}}))
    monkeypatch.setattr(cpu_paths, "time_products", _no_timing)
    cpu_paths.choose(model)
    calls = []
    for name, fn in list(cpu_paths.PRODUCTS.items()):
        monkeypatch.setitem(cpu_paths.PRODUCTS, name,
                            lambda x, *a, name=name, fn=fn: calls.append((x.numel() // x.shape[-1], name)) or fn(x, *a))
    with torch.no_grad():
        for rows, bucket in {1: 0, 2: 1, 3: 2, 16: 4, 17: 5, 32: 5, 33: 6, 200: 6}.items():  # 1, 2, 4, 8, 16, 32, 64
            calls.clear()
            cpu_paths.product(torch.randn(rows, 32), model.transformer.h[0].attn.c_attn)
            assert calls == [(rows, plan[bucket])]


def test_cpu_matmul_forces_one_product_where_it_applies(monkeypatch):
    monkeypatch.setattr(cpu_paths, "time_products", _no_timing)
    monkeypatch.setenv("CPU_MATMUL", "onednn")
    assert set(cpu_paths.choose(tiny_model()).values()) == {("onednn",) * len(cpu_paths.BUCKETS)}
    monkeypatch.setenv("CPU_MATMUL", "kernel")
    if cpu_paths.cpu_kernel.library() is not None:
        for paths in cpu_paths.choose(tiny_model()).values():
            assert paths == ("kernel",) * (len(cpu_paths.BUCKETS) - 1) + ("torch",)  # past MAX_ROWS: PyTorch's
    assert not cpu_paths.cache_file().exists()  # a forced product is not a measurement
    monkeypatch.setenv("CPU_MATMUL", "mkl")
    with pytest.raises(ValueError, match="CPU_MATMUL"):
        cpu_paths.choose(tiny_model())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_every_product_decodes_the_same_greedy_tokens(monkeypatch, dtype):
    # the bundled model, prompts of three lengths, batched (rows 3, prefill past MAX_ROWS) and one at a time;
    # bf16 on a sharpened model (test_bf16.py says why)
    tokens = {}
    for product in cpu_paths.PRODUCTS:
        monkeypatch.setenv("CPU_MATMUL", product)
        lm = load_model(BUNDLED_CHECKPOINT, "cpu", dtype)
        if dtype == "bfloat16":
            with torch.no_grad():
                lm.model.transformer.ln_f.weight.mul_(4)
                lm.model.transformer.ln_f.bias.mul_(4)
        prompts = [lm.tokenizer.encode(p) for p in ("ROMEO:", "JULIET:\nO Romeo, Romeo!", "First Citizen:\nBefore we")]
        greedy = SamplingParams(max_tokens=24, temperature=0)
        tokens[product] = ([s.tokens for s in generate(lm, prompts, greedy)],
                           [generate(lm, [p], greedy, max_batch=1)[0].tokens for p in prompts])
    reference = tokens.pop("torch")
    assert reference[0] == reference[1]
    for product, got in tokens.items():
        assert got == reference, product
