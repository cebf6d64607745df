"""model.sampling.sample() on a GPU: ms a call (CUDA events, median of 7 blocks of 50 calls) on GPT-2's 50,304
logits, for a batch of B rows, as the engine calls it each step. Run with the tree to time on PYTHONPATH.

    python sampler_gpu.py LABEL
"""
import statistics, sys, torch
from model.sampling import BatchSampling, SamplingParams, sample
out = []
for B in (1, 32, 128):
    logits = torch.randn(B, 50304, device="cuda") * 3
    rng = torch.Generator("cuda").manual_seed(0)
    for name, kw in [("t=1", dict(temperature=1.0)), ("top_p=0.95", dict(temperature=1.0, top_p=0.95))]:
        bs = BatchSampling([SamplingParams(**kw)] * B, [None] * B, logits.device)
        for _ in range(20):
            sample(logits, bs, rng)
        blocks = []
        for _ in range(7):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(50):
                sample(logits, bs, rng)
            end.record(); torch.cuda.synchronize()
            blocks.append(start.elapsed_time(end) / 50)
        out.append(f"B={B} {name} {statistics.median(blocks):.3f}")
print(sys.argv[1], "; ".join(out))
