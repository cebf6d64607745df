"""The Python part of a 16-row CPU decode step: everything in Decoder.step but the C step, profiled."""
import cProfile, pstats, time, torch
from bench.decode import build_models
from model.generate import Decoder
from model.sampling import SamplingParams
from model import cpu_step
torch.set_num_threads(2)
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
B = 16
dec = Decoder(lm, max_batch=B, max_len=256, seed=0)
params = SamplingParams(max_tokens=120, temperature=0.0, ignore_eos=True)
dec.add_many([([i + 1] * 128, params) for i in range(B)])
real = cpu_step.FusedDecode.run
c_time = []
def timed(self, inputs):
    t = time.perf_counter(); out = real(self, inputs); c_time.append(time.perf_counter() - t); return out
cpu_step.FusedDecode.run = timed
steps = []
for _ in range(10):
    dec.step()
prof = cProfile.Profile()
c_time.clear()
prof.enable()
for _ in range(100):
    t = time.perf_counter(); dec.step(); steps.append(time.perf_counter() - t)
prof.disable()
import statistics as st
print(f"step {1e3*st.median(steps):.2f} ms, C {1e3*st.median(c_time):.2f} ms, rest {1e3*(st.median(steps)-st.median(c_time)):.2f}")
pstats.Stats(prof).sort_stats("tottime").print_stats(25)
