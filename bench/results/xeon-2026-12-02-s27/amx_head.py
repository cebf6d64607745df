"""Greedy decode steps of GPT-2 124M fp32 (panels, as served) at 1-32 rows after 128-token prompts: the argmax
head's estimates by AMX tiles, by vdpbf16ps, and the full fp32 head, in alternated blocks of 3 steps (ms a step,
medians); then, on the same caches, the argmax and its logit's bits of each estimate against the fp32 head's."""
import statistics, time, torch
from bench.decode import build_models
from model.cpu_step import amx_ready, estimating_heads
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
print("AMX ready:", amx_ready(), flush=True)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
V = lm.config.vocab_size
modes = (*estimating_heads(lm.model), "fp32")  # amx: tiles; bf16: vdpbf16ps
for B in (1, 8, 16, 32):
    dec = Decoder(lm, max_batch=32, max_len=1024, seed=0)
    fused = dec.fused
    assert fused is not None and fused._gpt.head_bf16, "no C step with the argmax head here"
    dec.add_many([([i + 1] * 128, SamplingParams(max_tokens=100, temperature=0.0, ignore_eos=True)) for i in range(B)])
    blocks = {m: [] for m in modes}
    for block in range(8):
        for name in (modes if block % 2 else modes[::-1]):
            fused.argmax_head = (name,) * 6
            steps = []
            for _ in range(3):
                t = time.perf_counter(); dec.step(); steps.append(time.perf_counter() - t)
            blocks[name].append(statistics.median(steps))
    med = {m: 1e3 * statistics.median(v) for m, v in blocks.items()}
    print(f"{B} rows at ~{dec.running[0].pos} positions:", ", ".join(f"{m} {t:.2f} ms" for m, t in med.items()),
          "| fp32 / each:", ", ".join(f"{m} {med['fp32'] / t:.3f}x" for m, t in med.items() if m != "fp32"), flush=True)
    g = torch.Generator().manual_seed(B)
    for trial in range(4):
        inputs = torch.tensor([[int(torch.randint(0, V, (1,), generator=g)), s.pos] for s in dec.running])
        exact = fused.run(inputs)
        top = exact.argmax(dim=1)
        for name in modes[:-1]:
            est = fused.run(inputs, V, name)
            same = torch.equal(est.argmax(dim=1), top) and torch.equal(est.gather(1, top[:, None]), exact.gather(1, top[:, None]))
            kept = (est == exact).sum().item() / B
            print(f"  check {trial} {name}: argmax and its bits {'the same' if same else 'DIFFER'}, "
                  f"{kept:.0f} logits a row exact, largest |estimate - exact| {(est - exact).abs().max().item():.2e}", flush=True)
