"""Session 22: the fp32 step at 1 row (128 positions) and 16 rows (192), from panels, median of 32 steps; run with
and without THP_MEM_ALLOC_ENABLE=1 (PyTorch's allocator asks for transparent huge pages; this VM's THP is madvise)."""
import sys, statistics, torch, os
sys.path.insert(0, ".")
torch.set_num_threads(2)
from bench.decode import run_ours
from model.config import GPTConfig
from model.gpt import GPT
from model.loader import LoadedModel, place_model
from model.checkpoint import Checkpoint
from model.tokenizer import gpt2_tokenizer
from pathlib import Path
config = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
model = GPT(config); model.init_weights(seed=0)
place_model(model, torch.device("cpu"), torch.float32, panels=True)
lm = LoadedModel(model, gpt2_tokenizer(), Checkpoint(Path("<r>"), "random", config, {}, gpt2_tokenizer()), torch.device("cpu"), torch.float32)
row = []
for B, L in ((1, 128), (16, 192)):
    p = torch.randint(0, 50256, (B, L), generator=torch.Generator().manual_seed(L)).tolist()
    _, steps, _ = run_ours(lm, p, 33)
    row.append(f"B{B} ctx {L}: {1e3 * statistics.median(steps):.2f} ms")
hp = [l for l in open(f"/proc/{os.getpid()}/smaps_rollup") if l.startswith("AnonHugePages")]
print(f"THP={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')} " + " | ".join(row), hp[0].strip(), flush=True)
