"""torch.profiler over 50 calls of sample() at 32 rows, temperature 1, top_p 0.95, on the GPU: where the time goes."""
import torch
from torch.profiler import ProfilerActivity, profile
from model.sampling import BatchSampling, SamplingParams, sample
logits = torch.randn(32, 50304, device="cuda") * 3
rng = torch.Generator("cuda").manual_seed(0)
bs = BatchSampling([SamplingParams(temperature=1.0, top_p=0.95)] * 32, [None] * 32, logits.device)
for _ in range(20):
    sample(logits, bs, rng)
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    for _ in range(50):
        sample(logits, bs, rng)
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=60))
