"""Greedy decode steps of GPT-2 124M fp32 (panels, as served) at 1 and 16 rows after 128-token prompts, the head's
bf16 copy for the argmax (`argmax_head`) on and off, in alternated blocks of 3 steps: ms a step, medians."""
import statistics, time, torch
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
for B in (1, 16):
    dec = Decoder(lm, max_batch=16, max_len=1024, seed=0)
    assert dec.fused is not None and dec.fused.argmax_head, "no C step with the argmax head here"
    dec.add_many([([i + 1] * 128, SamplingParams(max_tokens=125, temperature=0.0, ignore_eos=True)) for i in range(B)])
    blocks = {True: [], False: []}
    for block in range(20):
        for on in ((True, False) if block % 2 else (False, True)):
            dec.fused.argmax_head = on
            steps = []
            for _ in range(3):
                t = time.perf_counter(); dec.step(); steps.append(time.perf_counter() - t)
            blocks[on].append(statistics.median(steps))
    on, off = (1e3 * statistics.median(blocks[m]) for m in (True, False))
    pairs = sorted(b / a for a, b in zip(blocks[True], blocks[False]))
    print(f"{B} rows: argmax head {on:.2f} ms, full fp32 head {off:.2f} ms: {off / on:.3f}x "
          f"(pairs {pairs[0]:.2f}-{pairs[-1]:.2f}, {sum(p > 1 for p in pairs)} of {len(pairs)} faster)", flush=True)
