"""Session 23: our fp32 decode step at 16 rows with 192 and 448 positions behind each row, from panels as the server
holds them; run from a copy of the repository whose model/cpu_step.c is a variant (attention_hint.sh). Median of 16
steps, printed with argv[1], the variant's name."""
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, ".")
from bench.decode import run_ours  # noqa: E402
from model.checkpoint import Checkpoint  # noqa: E402
from model.config import GPTConfig  # noqa: E402
from model.gpt import GPT  # noqa: E402
from model.loader import LoadedModel, place_model  # noqa: E402
from model.tokenizer import gpt2_tokenizer  # noqa: E402

torch.set_num_threads(2)
config = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
model = GPT(config)
model.init_weights(seed=0)
place_model(model, torch.device("cpu"), torch.float32, panels=True)
lm = LoadedModel(model, gpt2_tokenizer(), Checkpoint(Path("<random>"), "random", config, {}, gpt2_tokenizer()),
                 torch.device("cpu"), torch.float32)
row = []
for L in (192, 448):
    p = torch.randint(0, 50256, (16, L), generator=torch.Generator().manual_seed(L)).tolist()
    _, steps, _ = run_ours(lm, p, 17)
    row.append(f"ctx {L}: {1e3 * statistics.median(steps):.1f} ms")
print(f"{sys.argv[1]:>6} " + " | ".join(row), flush=True)
