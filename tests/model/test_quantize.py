"""QUANTIZE=int8: the bundled model's perplexity on held-out text stays within 2% of the unquantized model's."""
from __future__ import annotations

import math

import pytest
import torch

from model.generate import generate
from model.loader import load_model
from model.quantize import Int8Embedding, Int8Linear, quantize_rows, weight_bytes
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT

# Sonnet 18 (public domain): the bundled model was trained on the plays, not the sonnets
HELD_OUT = """Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date:
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade
Nor lose possession of that fair thou owest;
Nor shall Death brag thou wander'st in his shade,
When in eternal lines to time thou growest:
So long as men can breathe or eyes can see,
So long lives this and this gives life to thee.
"""


def _perplexity(lm) -> float:
    ids = torch.tensor([lm.tokenizer.encode(HELD_OUT)])
    with torch.inference_mode():
        _, loss = lm.model(ids[:, :-1], ids[:, 1:])
    return math.exp(loss.item())


def test_int8_perplexity_within_two_percent_and_smaller():
    full = load_model(BUNDLED_CHECKPOINT, "cpu", "float32")
    int8 = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", quantize="int8")
    assert sum(isinstance(m, Int8Linear) for m in int8.model.modules()) == 4 * int8.config.n_layer + 1
    p_full, p_int8 = _perplexity(full), _perplexity(int8)
    print(f"\nperplexity on Sonnet 18: float32 {p_full:.2f}, int8 {p_int8:.2f}")
    assert abs(p_int8 - p_full) / p_full < 0.02
    assert weight_bytes(int8.model) < 0.5 * weight_bytes(full.model)


def test_int8_model_decodes_through_the_decoder():
    lm = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", quantize="int8")
    prompt = lm.tokenizer.encode("ROMEO:")
    (seq,) = generate(lm, [prompt], SamplingParams(max_tokens=12, temperature=0))
    assert len(seq.tokens) == 12 and max(seq.tokens) < lm.tokenizer.n_vocab


@pytest.mark.parametrize("rows, columns", [(1001, 768), (13, 48), (3, 200)])  # 200: 3 tiles' columns and 8 more
def test_the_cpu_embedding_finds_its_rows_in_tiles(rows, columns):
    q, scale = quantize_rows(torch.randn(rows, columns, generator=torch.Generator().manual_seed(rows)))
    embedding = Int8Embedding(q, scale, torch.float32)  # the rows laid out as the C step's tiles
    assert embedding.weight_int8.shape == (-(-rows // 8), 8 * columns)
    idx = torch.tensor([[0, rows - 1, 7 % rows], [1, 2, rows // 2]])
    assert torch.equal(embedding(idx), q[idx].float() * scale[idx].unsqueeze(-1))


RSS_PROBE = """
import sys
from model.generate import generate
from model.loader import load_model
from model.sampling import SamplingParams
lm = load_model(sys.argv[1], "cpu", "float32", quantize=sys.argv[2], kv_slots=1)
generate(lm, [[1, 2, 3] * 20], SamplingParams(max_tokens=8), max_batch=1)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]))
"""


def test_an_int8_process_holds_less_memory_than_an_fp32_one(tmp_path):
    # the checkpoint is read memory-mapped: a tensor left pointing into the file (a bias the int8 kernel kept)
    # keeps all of its fp32 pages resident beside their int8 copies
    import subprocess
    import sys

    from checkpoints import tiny_model, write_nanogpt
    path = write_nanogpt(tmp_path / "wide.pt", tiny_model(n_layer=4, n_head=8, n_embd=512, block_size=128))

    def rss_kib(quantize: str) -> int:
        out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path), quantize], capture_output=True,
                             text=True, check=True, env={"PYTHONPATH": ".", "PATH": "/usr/bin:/bin"})
        return int(out.stdout.split()[-1])

    fp32, int8 = rss_kib("none"), rss_kib("int8")
    # the weights: 117 MiB in fp32; in int8 about 69: fbgemm's packed 31, the embedding's tiles 25 (the C decode
    # step's head reads them too) and the step's tiles of the blocks 13. Measured on the EPYC: 483 against 412-423
    assert int8 < fp32 - 20 * 1024, (fp32, int8)


def sharpened_greedy(dtype: str, quantize: str = "none", kv_dtype: str = "auto",
                     panels: bool = False) -> tuple[list[list[int]], list[list[int]]]:
    """The bundled model's greedy tokens for three prompts, batched and one at a time, with its final layer norm's
    gain times 4. Where two tokens are nearly tied, a low precision's rounding may pick the other; the gain widens
    every gap fourfold, so a different token means a real error, not a coin toss."""
    lm = load_model(BUNDLED_CHECKPOINT, "cpu", dtype, quantize=quantize, kv_dtype=kv_dtype, panels=panels)
    with torch.no_grad():
        lm.model.transformer.ln_f.weight.mul_(4)
        lm.model.transformer.ln_f.bias.mul_(4)
    prompts = [lm.tokenizer.encode(p) for p in ("ROMEO:", "JULIET:\nO Romeo,", "First Citizen:\nBefore we")]
    greedy = SamplingParams(max_tokens=32, temperature=0)
    return ([s.tokens for s in generate(lm, prompts, greedy)],
            [generate(lm, [p], greedy, max_batch=1)[0].tokens for p in prompts])


def test_the_int8_decode_step_gives_float32s_greedy_tokens_on_a_sharpened_model(monkeypatch, tmp_path):
    # model/cpu_step.py's int8 step quantizes activations per block of 32, as llama.cpp's q8_0 does. PyTorch's int8
    # step (fbgemm: one activation scale per row) drifts at the 5th token of one prompt here.
    monkeypatch.setenv("CPU_MATMUL", "kernel")  # the C step at every decode of up to 16 rows
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    full, int8 = sharpened_greedy("float32"), sharpened_greedy("float32", quantize="int8")
    assert full[0] == int8[0] == int8[1]
