"""model.finetune on CPU: DPO widens the chosen-minus-rejected log-prob margin on held-out pairs; SFT learns only
the reply tokens; both write checkpoints the loader serves. A character-level tiny model keeps each run to
seconds (GPT-2's 50k-row vocabulary would dominate the cost)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from checkpoints import write_char_level
from model import finetune
from model.data import DataError
from model.loader import load_model

GOOD = "kind fair gentle sweet noble good".split()
BAD = "foul vile base rude cruel wicked".split()
ASK = "who what where when why how".split()


def pairs(n: int, seed: int) -> list[dict]:
    """Synthetic preferences: a chosen reply drawn from GOOD words, a rejected one from BAD words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        q = " ".join(rng.choice(ASK) for _ in range(3))
        out.append({"prompt": f"User: {q}?\nAssistant:",
                    "chosen": " " + " ".join(rng.choice(GOOD) for _ in range(3)) + "\n",
                    "rejected": " " + " ".join(rng.choice(BAD) for _ in range(3)) + "\n"})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    ckpt, _ = write_char_level(tmp_path_factory.mktemp("base"), seed=3)
    return ckpt


def held_out_margins(checkpoint: Path, rows: list[dict]) -> torch.Tensor:
    lm = load_model(checkpoint, device="cpu")
    examples = finetune.encode(rows, lm.tokenizer, lm.config.block_size, with_rejected=True)
    lp = finetune.pair_logps(lm.model, examples, torch.device("cpu"), finetune.autocast_for(torch.device("cpu")))
    return lp[:, 0] - lp[:, 1]


def test_dpo_widens_the_margin_on_held_out_pairs(base, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", pairs(48, seed=0))
    held_out = pairs(16, seed=1)  # other prompts and other word combinations
    out = tmp_path / "dpo"
    result = finetune.main(["--method", "dpo", "--data", str(data), "--init-from", str(base), "--out", str(out),
                            "--steps", "25", "--lr", "3e-3", "--beta", "0.1", "--batch-size", "8",
                            "--device", "cpu", "--seed", "1"])
    assert result["checkpoint"] == out / "ckpt.pt" and result["steps"] == 25 and not result["stopped"]
    before, after = held_out_margins(base, held_out), held_out_margins(out / "ckpt.pt", held_out)
    assert after.mean() > before.mean() + 2.0, (before.mean(), after.mean())
    assert (after > before).float().mean() >= 0.9, (before, after)

    log = (out / "log.txt").read_text().splitlines()
    progress = [line for line in log if line.startswith("step ")]
    assert len(progress) == 25 and progress[0].startswith("step 1/25 | loss 0.6931 | margin +0.0000")
    assert " | margin +" in progress[-1] and float(progress[-1].split("| loss ")[1].split()[0]) < 0.6931
    lm = load_model(out / "ckpt.pt", device="cpu")
    assert lm.checkpoint.format == "build-nanogpt" and lm.checkpoint.step == 25 and lm.tokenizer.name == "char"


def test_sft_learns_the_reply_tokens_only(base, tmp_path):
    lm = load_model(base, device="cpu")
    rows = pairs(24, seed=2)
    (ex,) = finetune.encode(rows[:1], lm.tokenizer, lm.config.block_size, with_rejected=False)
    x, y = finetune.collate([(ex.chosen, ex.n_prompt_chosen), (ex.chosen[:-3], ex.n_prompt_chosen)], torch.device("cpu"))
    n_prompt = len(rows[0]["prompt"])  # one character a token
    reply = lm.tokenizer.encode(rows[0]["chosen"])
    assert y[0, :n_prompt - 1].eq(-1).all() and y[0, n_prompt - 1:].tolist() == reply  # prompt masked
    assert y[1, -3:].eq(-1).all() and x[1].tolist()[:len(ex.chosen) - 4] == ex.chosen[:-4]  # padding masked

    out = tmp_path / "sft"
    finetune.main(["--method", "sft", "--data", str(write_jsonl(tmp_path / "d.jsonl", rows)), "--init-from",
                   str(base), "--out", str(out), "--steps", "30", "--lr", "1e-2", "--batch-size", "8",
                   "--device", "cpu"])
    losses = [float(line.split("| loss ")[1].split()[0]) for line in (out / "log.txt").read_text().splitlines()
              if line.startswith("step ")]
    assert len(losses) == 30 and losses[-1] < losses[0] - 1.0, losses
    tuned = load_model(out / "ckpt.pt", device="cpu")  # meta.pkl written beside it: the vocabulary travels
    prompt = lm.tokenizer.encode(rows[0]["prompt"])
    with torch.no_grad():
        logits, _ = tuned.model(torch.tensor([prompt]))
    first = lm.tokenizer.decode([int(logits[0, -1].argmax())])
    assert first == " ", first  # every reply starts with a space: the first reply token is learned


def test_bad_data_names_the_line(base, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "chosen": "b"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: .*rejected"):
        finetune.main(["--method", "dpo", "--data", str(bad), "--init-from", str(base), "--out", str(tmp_path / "o")])
