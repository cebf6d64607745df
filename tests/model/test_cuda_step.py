"""model/cuda_step.py, the Triton decode step that CUDA graphs capture for small batches. Without a GPU its kernels
run in Triton's interpreter (numpy): the same indexing, masks, layer norms, cache writes and online softmax, so a
wrong address or a missed mask fails here. On CUDA the step runs for real, and greedy decoding must give eager
PyTorch's tokens."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoints import tiny_model
from model.kv_cache import KVCache

pytest.importorskip("triton")
HERE = Path(__file__).resolve().parent
CASES = [("float32", True, "none"), ("float32", False, "tanh"), ("bfloat16", True, "none")]


@torch.inference_mode()
def check_against_pytorch(dtype_name: str, bias: bool, gelu: str, device: str) -> None:
    from model import cuda_step
    dtype = getattr(torch, dtype_name)
    model = tiny_model(seed=3, bias=bias, vocab_size=96, gelu_approximate=gelu).to(device, dtype)
    caches = [KVCache(model.config, 4, 64, device, dtype) for _ in range(2)]
    caches[0].kv.normal_(generator=torch.Generator(device).manual_seed(0))  # stale keys that must stay unseen
    caches[1].kv.copy_(caches[0].kv)
    idx = torch.tensor([[5], [7], [11]], device=device)
    pos = torch.tensor([[4], [0], [9]], device=device)  # three rows at their own lengths, one after another
    want = model.forward_cached(idx, pos, caches[0].rows(0, 3), 10)
    got = cuda_step.decode_step(model, idx, pos, caches[1].rows(0, 3))
    # bf16: the products sum in another order, so a rounding may land one unit (2**-8 relative) apart
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2 ** -7, atol=2 ** -7)
    torch.testing.assert_close(got, want, **tol)
    # the new keys and values went to each row's own position, and nothing else in the cache changed
    torch.testing.assert_close(caches[1].kv, caches[0].kv, **tol)


@pytest.mark.parametrize("dtype_name, bias, gelu", CASES)
def test_triton_step_gives_the_logits_and_cache_of_pytorchs(dtype_name, bias, gelu):
    if torch.cuda.is_available():
        return check_against_pytorch(dtype_name, bias, gelu, "cuda")
    # Triton chooses at import whether its kernels are interpreted: a fresh process, whatever this one imported
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join(map(str, (HERE.parent.parent, HERE.parent, HERE)))}
    code = f"import test_cuda_step as t; t.check_against_pytorch({dtype_name!r}, {bias}, {gelu!r}, 'cpu')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_triton_step_declines_fp32_and_int8_models_without_raising():
    from model import cuda_step
    from model.quantize import quantize_model
    model = tiny_model(seed=3).to("cuda" if torch.cuda.is_available() else "cpu")
    assert not cuda_step.supports(model)  # fp32
    assert not cuda_step.supports(quantize_model(model, "int8"))  # its layers have no `weight` to look at


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the step runs in CUDA graphs on a GPU")
def test_on_cuda_graphed_triton_steps_give_eager_greedy_tokens():
    from model import cuda_graphs
    from model.generate import Decoder
    from model.loader import load_model
    from model.sampling import SamplingParams
    from model.settings import BUNDLED_CHECKPOINT
    lm = load_model(BUNDLED_CHECKPOINT, "cuda")  # bf16, trained: greedy tokens are not near ties
    prompts = [lm.tokenizer.encode(t) for t in ("ROMEO:", "First Citizen:\nBefore we proceed", "KING HENRY")]
    params = SamplingParams(max_tokens=120, temperature=0, ignore_eos=True)
    tokens = {}
    for graphs in (False, True):
        dec = Decoder(lm, max_batch=4, cuda_graphs=graphs)
        assert (dec.graphs is not None and dec.graphs.fused is not None) == graphs
        seqs = [dec.add(p, params).seq for p in prompts]
        while dec.running:
            dec.step()
        tokens[graphs] = [s.tokens for s in seqs]
    assert cuda_graphs.FUSED_MAX_BATCH >= len(prompts)  # the Triton step decoded them
    assert tokens[True] == tokens[False]
