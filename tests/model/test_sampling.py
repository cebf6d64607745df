"""The categorical draw and the top-k / top-p / min-p filters: the tokens sampled follow the distribution they
define, measured over many draws against references computed by sorting. On a CPU and, where there is one, a GPU:
the two apply top-p differently (by rejection; by sorting)."""
import pytest
import torch

from model.sampling import (BatchSampling, SamplingParams, _draw_by_inversion, _draw_by_race, _filter_top_k_top_p,
                            sample)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
on_each_device = pytest.mark.parametrize("device", DEVICES)


def draws(logits: torch.Tensor, params: list[SamplingParams], calls: int) -> torch.Tensor:
    """(calls, B) tokens sampled from the same logits, seeded."""
    bs = BatchSampling(params, [None] * len(params), logits.device)
    rng = torch.Generator(logits.device).manual_seed(0)
    return torch.stack([sample(logits, bs, rng) for _ in range(calls)])


def frequencies(tokens: torch.Tensor, V: int) -> torch.Tensor:
    return torch.bincount(tokens.flatten(), minlength=V).double() / tokens.numel()


def nucleus(logits: torch.Tensor, top_k: int, top_p: float, min_p: float) -> torch.Tensor:
    """The reference: one row's probabilities after top-k, top-p (the sorted vocabulary's shortest prefix holding
    top_p) and min-p, renormalised."""
    order = logits.argsort(descending=True)
    probs = torch.zeros_like(logits)
    kept = order[:top_k] if top_k > 0 else order  # -1 and 0: off
    p = torch.softmax(logits[kept], -1)
    before = p.cumsum(-1) - p
    if top_p < 1:  # 1 keeps every token, as OpenAI's does: a float cumsum may pass 1 before the last (on a Zen 1)
        kept, p = kept[before < top_p], p[before < top_p]
    p = p.masked_fill(p < min_p * p.max(), 0)
    probs[kept] = p
    return probs / probs.sum()


SKEWED = [0.5, 0.25, 0.125, 0.0625, 0.0625, 0.0]  # the last token masked


def assert_follows(tokens: torch.Tensor, probs: list[float]) -> None:
    freq = frequencies(tokens, len(probs))
    assert freq[-1] == 0
    assert (freq.cpu() - torch.tensor(probs, dtype=torch.double)).abs().max() < 0.015, freq  # ~3 sd of the largest


@on_each_device
def test_the_draw_follows_the_distribution_and_never_takes_a_masked_token(device):
    logits = torch.tensor(SKEWED, device=device).log().expand(64, -1).contiguous()
    assert_follows(draws(logits, [SamplingParams(temperature=1.0)] * 64, 150), SKEWED)  # 9,600 draws


@pytest.mark.parametrize("draw", [_draw_by_inversion, _draw_by_race])
def test_either_draw_follows_the_distribution(draw):
    """The CPU's and the GPU's draws, both on the CPU; a seeded row among them."""
    probs = torch.tensor(SKEWED).expand(64, -1).contiguous()
    rng, seeded = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    assert_follows(torch.stack([draw(probs, [seeded] + [None] * 63, rng) for _ in range(150)]), SKEWED)


@on_each_device
def test_top_p_keeps_the_sorted_nucleus(device):
    # 300 likely tokens of slowly falling logits among 3,000: nuclei of 100-280 tokens, past the CPU's first draws
    V = 3000
    logits = torch.full((4, V), -8.0)
    ids = torch.randperm(V, generator=torch.Generator().manual_seed(1))[:300]
    logits[:, ids] = torch.linspace(2.0, 0.0, 300)
    logits = logits.to(device)
    cases = [(0, 0.5, 0.0), (-1, 0.9, 0.0), (50, 0.8, 0.0), (0, 0.95, 0.3)]  # (top_k, top_p, min_p) per row
    params = [SamplingParams(temperature=1.0, top_k=k, top_p=p, min_p=m) for k, p, m in cases]
    tokens = draws(logits, params, 3000)
    for row, (k, p, m) in enumerate(cases):
        expected = nucleus(logits[row], k, p, m).double()
        freq = frequencies(tokens[:, row], V)
        kept = expected.nonzero().flatten()
        assert set(freq.nonzero().flatten().tolist()) <= set(kept.tolist()), (k, p, m)
        assert (freq - expected).abs().max() < 0.01, (k, p, m)
        # the nucleus's edge: its 20 least likely tokens are drawn as often as they should be (~80 draws)
        edge = kept[expected[kept].argsort()[:20]]
        assert abs(freq[edge].sum() / expected[edge].sum() - 1) < 0.3, (k, p, m)


@on_each_device
def test_the_sorting_filter_keeps_the_same_nucleus(device):
    """The top-p filter a GPU applies by sorting (the CPU by rejection, above) masks all but the same tokens."""
    logits = (torch.randn(6, 2000, generator=torch.Generator().manual_seed(2)) * 2).to(device)
    cases = [(0, 0.5), (0, 0.9), (40, 0.7), (0, 1e-6), (7, 1.0), (0, 1.0)]
    params = [SamplingParams(temperature=1.0, top_k=k, top_p=p) for k, p in cases]
    masked = _filter_top_k_top_p(logits, BatchSampling(params, [None] * 6, logits.device), with_top_p=True)
    for row, (k, p) in enumerate(cases):
        kept = set(masked[row].isfinite().nonzero().flatten().tolist())
        assert kept == set(nucleus(logits[row], k, p, 0.0).nonzero().flatten().tolist()), (k, p)


@on_each_device
def test_a_tiny_top_p_and_top_k_1_take_the_best_token(device):
    logits = torch.randn(8, 500, generator=torch.Generator().manual_seed(3)).to(device)
    best = logits.argmax(-1)
    for params in [SamplingParams(temperature=2.0, top_p=1e-6), SamplingParams(temperature=2.0, top_k=1),
                   SamplingParams(temperature=2.0, top_p=0.0)]:
        assert (draws(logits, [params] * 8, 20) == best).all(), params


@on_each_device
def test_a_row_of_nan_logits_still_gets_a_token_in_the_vocabulary(device):
    """A diverged model's logits: no out-of-range id to crash the next step of every row in the batch."""
    logits = torch.randn(2, 100, generator=torch.Generator().manual_seed(4)).to(device)
    logits[0] = float("nan")
    for params in [SamplingParams(temperature=1.0), SamplingParams(temperature=1.0, top_p=0.9),
                   SamplingParams(temperature=1.0, top_k=5, min_p=0.1), SamplingParams(temperature=0.0)]:
        tokens = draws(logits, [params] * 2, 5)
        assert ((tokens >= 0) & (tokens < 100)).all(), params
