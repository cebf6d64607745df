"""The bundled model greedy through the Decoder, 4 prompts x 100 tokens, CPU_MATMUL=panels: how many lines of 16
logits a row the argmax head computes in fp32, and its argmax against the fp32 head's at every step."""
import os, torch
os.environ["CPU_MATMUL"] = "panels"
from model.loader import load_model
from model.settings import BUNDLED_CHECKPOINT
from model.generate import generate
from model.sampling import SamplingParams
from model.cpu_step import FusedDecode
lm = load_model(BUNDLED_CHECKPOINT, "cpu", "float32", panels=True)
print(lm.model.config)
counts = []
run = FusedDecode.run
def spy(self, inputs, below=0):
    out = run(self, inputs, below)
    if below:
        full = run(self, inputs, 0)
        counts.extend(((out == full).sum(-1) / 16).tolist())
        assert torch.equal(out[:, :below].argmax(-1), full[:, :below].argmax(-1))
    return out
FusedDecode.run = spy
prompts = [lm.tokenizer.encode(p) for p in ("ROMEO:", "JULIET:\nO Romeo,", "First Citizen:\nBefore we", "KING RICHARD III:\n")]
generate(lm, prompts, SamplingParams(max_tokens=100, temperature=0))
import statistics
print("lines exact per row: median", statistics.median(counts), "max", max(counts), "mean", sum(counts)/len(counts), len(counts))
