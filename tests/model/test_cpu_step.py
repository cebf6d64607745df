"""model/cpu_step.py: the decode step in one C call gives forward_cached's logits and cache (in bf16, within its
rounding; in int8, those of its block-quantized products), and so does a prefill through it; the same greedy text; it
is chosen per row count by a timing cached per machine, and stays out of what it does not serve (a forced product, an
untied int8 head)."""
import json
import shutil
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

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
    cache = KVCache(model.config, len(lengths), max_len, "cpu", model.transformer.wpe.weight.dtype)
    with torch.inference_mode():
        for r, n in enumerate(lengths):
            idx = torch.randint(0, 50257, (1, n), generator=g)
            model.forward_cached(idx, torch.arange(n)[None], cache.rows(r, r + 1), n, start=0)
    tokens = torch.randint(0, 50257, (len(lengths),), generator=g)
    return cache, torch.stack([tokens, torch.tensor(lengths)], dim=1)


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + r for r in range(cpu_kernel.MAX_ROWS)]])
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


@pytest.mark.parametrize("prompts, T, start", [(1, 1, 0), (1, 32, 0), (3, 7, 0), (2, 5, 11)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_prefill_in_one_step_equals_forward_cached(prompts, T, start, dtype):
    """A prefill's rows are runs of one sequence's positions, after `start` positions already cached: its logits
    are those of each run's last row, and every row's keys and values land in its sequence's slot."""
    half = dtype == torch.bfloat16
    model = tiny_model(seed=T).to(dtype)
    reference = tiny_model(seed=T).to(dtype).float()  # a bf16 model's C step computes in fp32 between products
    g = torch.Generator().manual_seed(start)
    tokens = torch.randint(0, 50257, (prompts + 1, start + T), generator=g)  # slot 0 is another sequence's
    caches = [KVCache(model.config, prompts + 1, 48, "cpu", dtype) for _ in range(2)]
    with torch.inference_mode():
        for cache, m in zip(caches, (model, reference if half else model)):
            m.forward_cached(tokens, torch.arange(start + T)[None].expand(prompts + 1, -1), cache.rows(0, prompts + 1),
                             start + T, start=0)
            cache.kv[:, :, 1:, :, start:] = 0  # the prompts' new positions: what the prefill writes
        fused = FusedDecode.build(model, caches[0]).prefill(tokens[1:, start:].tolist(), start, 1)
        positions = torch.arange(start, start + T)[None].expand(prompts, -1)
        eager = (reference if half else model).forward_cached(tokens[1:, start:], positions,
                                                              caches[1].rows(1, prompts + 1), start + T, start=start)
    tolerance = dict(rtol=2e-2, atol=2e-2) if half else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused, eager.float(), **tolerance)
    torch.testing.assert_close(caches[0].kv.float(), caches[1].kv.float(), **tolerance)


@pytest.mark.parametrize("n_embd, n_head", [(36, 4), (96, 1)])  # head sizes 9 and 96 (GPT-2: 64; the tests: 16)
def test_attention_takes_any_head_size(n_embd, n_head):
    model = tiny_model(seed=3, n_embd=n_embd, n_head=n_head)
    fused_cache, inputs = prefilled(model, [9, 1, 30])
    eager_cache, _ = prefilled(model, [9, 1, 30])
    with torch.inference_mode():
        fused = FusedDecode.build(model, fused_cache).run(inputs)
        eager = model.forward_cached(inputs[:, :1], inputs[:, 1:], eager_cache.rows(0, 3), 31)
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-5)


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


class BlockQuantizedLinear(nn.Module):
    """The C step's int8 product in PyTorch: x quantized per block of 32 (max|x| / 127 a block), int8 pairs summed
    exactly per block, times the block's scale and the weight row's."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.q, self.scale = quantize_rows(linear.weight)
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = -x.shape[-1] % 32  # a last block of fewer than 32: zeros added to it change no sum
        blocks = F.pad(x, (0, pad)).reshape(-1, (x.shape[-1] + pad) // 32, 32)
        top = blocks.abs().amax(dim=-1, keepdim=True)
        xq = torch.round(blocks * torch.where(top > 0, 127.0 / top, 0.0))
        w = F.pad(self.q.double(), (0, pad)).view(self.q.shape[0], -1, 32)
        sums = torch.einsum("rki,oki->rko", xq.double(), w)
        y = ((sums * (top / 127.0)).sum(dim=1) * self.scale).float()
        y = y if self.bias is None else y + self.bias
        return y.view(*x.shape[:-1], -1)


@pytest.mark.parametrize("lengths", [[5], [9, 1, 30], [3 + r for r in range(cpu_kernel.MAX_ROWS)]])
@pytest.mark.parametrize("width", [48, 96])  # columns past a multiple of 64 are summed without SIMD: 48 all, 96 32
def test_an_int8_step_is_its_block_quantized_products(lengths, width):
    int8, reference = quantize_model(tiny_model(seed=3, n_embd=width)), tiny_model(seed=3, n_embd=width)
    for parent, name in reference.product_slots():
        setattr(parent, name, BlockQuantizedLinear(getattr(parent, name)))
    head = BlockQuantizedLinear(reference.lm_head)
    reference.lm_head = head
    with torch.no_grad():  # the tied token embedding: the head's int8 rows times their scales
        reference.transformer.wte.weight = nn.Parameter(head.q.float() * head.scale[:, None])
    int8_cache, inputs = prefilled(reference, lengths)
    reference_cache, _ = prefilled(reference, lengths)
    with torch.inference_mode():
        fused = FusedDecode.build(int8, int8_cache).run(inputs)
        eager = reference.forward_cached(inputs[:, :1], inputs[:, 1:], reference_cache.rows(0, len(lengths)),
                                         max(lengths) + 1)
    # the layer norms sum in another order, so now and then a value of x lands on the other side of a rounding
    # boundary and one int8 of a block differs by 1: a product moves by its block's scale times a weight, ~1e-3
    torch.testing.assert_close(fused, eager, rtol=1e-3, atol=3e-3)
    torch.testing.assert_close(int8_cache.kv, reference_cache.kv, rtol=1e-3, atol=3e-3)


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

    [prefill_key] = [k for k in stored if k.startswith("prefill of") and k.endswith(key)]
    assert len(stored[prefill_key]) == len(cpu_step.PREFILL_BUCKETS)
    assert timed is None or list(timed.prefills) == stored[prefill_key]

    monkeypatch.setattr(cpu_step, "time_steps", no_timing)
    monkeypatch.setattr(cpu_step, "time_prefills", no_timing)
    plan = [False, True, False, False, True, False]  # BUCKETS 1, 2, 4, 8, 16, 32: a choice no timing would make
    for short, long in ((True, True), (False, True), (True, False)):  # prefills of up to 32 and 128 rows
        cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {key: plan,
                                                                                 prefill_key: [short, long]}}))
        followed = FusedDecode.build(model, cache)
        assert ([followed.fits(rows) for rows in (1, 2, 3, 4, 5, 16, 17, 33)]
                == [False, True, False, False, False, True, False, False])
        assert ([followed.fits_prefill(rows) for rows in (2, 3, 16, 32, 33, cpu_step.PREFILL_ROWS, 129)]
                == [short, False, short, False, long, long, False])
    cpu_paths.cache_file().write_text(json.dumps({cpu_paths.machine_key(): {key: [False] * len(plan)}}))
    assert FusedDecode.build(model, cache) is None  # PyTorch's step at every row count


def test_a_burst_of_load_while_timing_does_not_decide_a_bucket(monkeypatch):
    # A clock that only the two steps advance: the C step takes 1.0, PyTorch's 1.2, each 1.6x as long during a
    # burst of load that lasts five consecutive steps. Wherever the burst falls, the C step wins every bucket.
    model = tiny_model()
    calls = 0

    class Clock:
        now = 0.0

        @staticmethod
        def perf_counter():
            return Clock.now

    def run(cost):
        def timed(*args, **kwargs):
            nonlocal calls
            Clock.now += cost * (1.6 if burst <= calls < burst + 5 else 1.0)
            calls += 1
        return timed

    monkeypatch.setattr(cpu_paths, "time", Clock)  # cpu_paths.fastest times both steps
    monkeypatch.setattr(FusedDecode, "run", run(1.0))
    monkeypatch.setattr(model, "forward_cached", run(1.2))
    steps = 2 * cpu_step.REPEATS * len(cpu_step.BUCKETS)
    for burst in range(steps - 4):
        calls = 0
        assert cpu_step.time_steps(model, None, 1e-5) == [True] * len(cpu_step.BUCKETS), f"burst at step {burst}"
        assert calls == steps


def test_serves_only_what_it_knows(monkeypatch):
    cache = KVCache(tiny_model().config, 2, 16, "cpu", torch.float32)
    assert FusedDecode.build(tiny_model(), cache) is not None
    bf16 = tiny_model().bfloat16()
    assert FusedDecode.build(bf16, KVCache(bf16.config, 2, 16, "cpu", torch.bfloat16)) is not None
    assert FusedDecode.build(bf16, cache) is not None  # a cache in another dtype than the weights: KV_CACHE_DTYPE
    assert FusedDecode.build(tiny_model(), KVCache(bf16.config, 2, 16, "cpu", torch.float16)) is None
    assert FusedDecode.build(quantize_model(tiny_model()), cache) is not None
    untied = tiny_model()
    untied.lm_head.weight = nn.Parameter(untied.lm_head.weight.clone())
    assert FusedDecode.build(quantize_model(untied), cache) is None  # an int8 head, an fp32 token embedding
    monkeypatch.setenv("CPU_MATMUL", "torch")  # a product forced by the operator is the one every step takes
    assert FusedDecode.build(tiny_model(), cache) is None


def test_a_context_shorter_than_the_timing_position_is_timed_within_it(monkeypatch):
    monkeypatch.delenv("CPU_MATMUL")  # timed: the step at position 31 once overran a 16-token context (IndexError)
    short = tiny_model(block_size=16)
    FusedDecode.build(short, KVCache(short.config, 2, 16, "cpu", torch.float32))
    assert any("decode step" in key for key in json.loads(cpu_paths.cache_file().read_text()).popitem()[1])
