"""model.train on CPU: a short run learns and writes a servable checkpoint; fine-tuning from every checkpoint
format; --resume continues exactly where an interrupted run stopped; the data formats model.data reads."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from checkpoints import write_build_nanogpt, write_hf, write_nanogpt
from model import train
from model.checkpoint import read_checkpoint
from model.config import GPTConfig
from model.data import Batches, DataError, load_split
from model.gpt import GPT
from model.loader import load_model
from model.settings import REPO
from model.tokenizer import gpt2_tokenizer

WORDS = ("the king and queen of a fair city walk by the river at night while old men sing of love "
         "war and gold to young ladies who weep for their lost lords").split()
# small enough for a few seconds a run on two cores; the 50304-row embedding dominates the cost
TINY = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--log-every", "1", "--seed", "7"]


def write_corpus(path: Path, n_sentences: int = 400) -> Path:
    rng = random.Random(0)
    sentences = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "."
                 for _ in range(n_sentences))
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "tiny.txt")


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> tuple[train.Result, Path]:
    out = tmp_path_factory.mktemp("run")
    result = train.main(["--data", str(corpus), "--out", str(out), *TINY, "--max-steps", "30", "--lr", "1e-2",
                         "--warmup-steps", "3", "--eval-every", "10"])
    return result, out


def test_30_steps_lower_the_loss_and_write_a_servable_checkpoint(trained):
    result, out = trained
    losses = list(result.train_losses.values())
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.5, losses
    assert result.val_losses[30] < result.val_losses[0] - 1.5, result.val_losses
    assert result.checkpoint == out / "model_00030.pt" and result.checkpoint.is_file()

    with torch.serialization.safe_globals([GPTConfig]):
        obj = torch.load(result.checkpoint, weights_only=True, map_location="cpu")
    assert {"model", "config", "step", "val_loss", "optimizer"} <= obj.keys()
    assert obj["step"] == 30 and obj["val_loss"] == pytest.approx(result.val_losses[30])
    assert type(obj["config"]) is GPTConfig and vars(obj["config"])["gelu_approximate"] == "none"

    lm = load_model(result.checkpoint, device="cpu")
    assert lm.checkpoint.format == "build-nanogpt" and lm.config.gelu_approximate == "none"
    assert (lm.config.n_layer, lm.config.n_embd, lm.config.block_size) == (2, 32, 16)

    log = (out / "log.txt").read_text()
    assert "tok/s" in log and "ETA" in log and "val loss" in log and "lr " in log


def test_model_sample_reads_the_checkpoint(trained):
    result, _ = trained
    proc = subprocess.run([sys.executable, "-m", "model.sample", "--checkpoint", str(result.checkpoint),
                           "--prompt", "The king", "--max-tokens", "5", "--seed", "1", "--device", "cpu"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), proc.stderr


def _source_model(checkpoint: Path) -> GPT:
    ck = read_checkpoint(checkpoint)
    model = GPT(ck.config)
    model.load_state_dict(ck.state_dict)
    return model.eval()


@pytest.mark.parametrize("fmt", ["nanogpt", "build-nanogpt", "huggingface", "ours"])
def test_init_from_continues_from_every_format(fmt, trained, corpus, tmp_path):
    result, _ = trained
    model = _source_model(result.checkpoint)
    source = {"nanogpt": lambda: write_nanogpt(tmp_path / "ckpt.pt", model, prefix="_orig_mod."),
              "build-nanogpt": lambda: write_build_nanogpt(tmp_path / "model_19072.pt", model),
              "huggingface": lambda: write_hf(tmp_path / "hf", model),
              "ours": lambda: result.checkpoint}[fmt]()
    ft = train.main(["--data", str(corpus), "--out", str(tmp_path / "ft"), *TINY[6:], "--init-from", str(source), "--max-steps", "3", "--lr", "1e-3", "--warmup-steps", "1"])
    # the same val batches as the source run saw at its end: the weights came across, not a fresh init (10.8).
    # build-nanogpt files mean tanh GELU and Hugging Face drops the 47 padding rows: close, not equal
    assert ft.val_losses[0] == pytest.approx(result.val_losses[30], abs=0.05)
    assert ft.start_step == 0 and ft.checkpoint.name == "model_00003.pt"

    ck = read_checkpoint(ft.checkpoint)
    assert ck.format == "build-nanogpt" and ck.step == 3
    assert (ck.config.n_layer, ck.config.n_head, ck.config.n_embd) == (2, 2, 32)
    assert ck.config.vocab_size == (50257 if fmt == "huggingface" else 50304)
    # the GELU the source meant is written down in our file, so it is not mistaken for build-nanogpt's tanh
    assert ck.config.gelu_approximate == ("tanh" if fmt == "build-nanogpt" else "none")


def test_resume_continues_exactly_where_the_run_stopped(corpus, tmp_path):
    args = ["--data", str(corpus), "--out", str(tmp_path), *TINY, "--max-steps", "12", "--save-every", "4",
            "--lr", "1e-2", "--warmup-steps", "2", "--eval-every", "100"]
    straight = train.main(args)
    with torch.serialization.safe_globals([GPTConfig]):
        uninterrupted = torch.load(tmp_path / "model_00012.pt", weights_only=True)
    (tmp_path / "model_00012.pt").unlink()  # as if the run had died after step 8's checkpoint

    resumed = train.main(args + ["--resume"])
    assert resumed.start_step == 8 and list(resumed.train_losses) == [9, 10, 11, 12]
    for step in (9, 10, 11, 12):  # same batches, same learning rates, same AdamW moments: same losses
        assert resumed.train_losses[step] == pytest.approx(straight.train_losses[step], rel=1e-5)
    with torch.serialization.safe_globals([GPTConfig]):
        again = torch.load(resumed.checkpoint, weights_only=True)
    assert again["step"] == 12
    # AdamW's per-parameter step counts went on from 8: its state was restored, not started afresh
    assert {float(s["step"]) for s in again["optimizer"]["state"].values()} == {12.0}
    for key, tensor in uninterrupted["model"].items():
        torch.testing.assert_close(again["model"][key], tensor, rtol=1e-5, atol=1e-6)
    assert "model.train from build-nanogpt checkpoint" in (tmp_path / "log.txt").read_text()


def test_resume_without_a_checkpoint_says_so(corpus, tmp_path):
    with pytest.raises(SystemExit, match="no model_"):
        train.main(["--data", str(corpus), "--out", str(tmp_path), *TINY, "--resume"])


def test_architecture_flags_conflict_with_init_from(trained, corpus, tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--data", str(corpus), "--out", str(tmp_path), "--init-from", str(trained[0].checkpoint),
                    "--n-layer", "4"])


def test_data_formats(tmp_path):
    tok = gpt2_tokenizer()
    ids = np.arange(1000, 3000, dtype=np.uint16)
    ids.tofile(tmp_path / "shard.bin")  # nanoGPT's prepare.py output: raw uint16
    np.save(tmp_path / "shard.npy", ids)  # build-nanogpt's shards
    for name in ("shard.bin", "shard.npy"):
        split = load_split(tmp_path / name, tok, val_fraction=0.1)
        assert np.array_equal(np.concatenate([split.train, split.val]), ids) and len(split.val) == 200

    nanogpt = tmp_path / "shakespeare"  # data/<dataset>/{train,val}.bin: the split is the files'
    nanogpt.mkdir()
    ids[:1500].tofile(nanogpt / "train.bin")
    ids[1500:].tofile(nanogpt / "val.bin")
    split = load_split(nanogpt, tok)
    assert len(split.train) == 1500 and len(split.val) == 500

    texts = tmp_path / "texts"  # a folder of text files: joined with <|endoftext|>
    texts.mkdir()
    (texts / "a.txt").write_text("Hello there. " * 20)
    (texts / "b.txt").write_text("General Kenobi! " * 20)
    split = load_split(texts, tok)
    stream = np.concatenate([split.train, split.val]).tolist()
    assert stream.count(tok.eot_id) == 1 and tok.decode(stream).startswith("Hello there.")

    with pytest.raises(DataError, match="fewer than block_size"):
        Batches(split.val, batch_size=2, block_size=1024, seed=0, rank=0, device=torch.device("cpu"))
    x, y = Batches(split.train, 3, 8, seed=0, rank=0, device=torch.device("cpu")).get(step=5)
    assert x.shape == y.shape == (3, 8) and torch.equal(x[:, 1:], y[:, :-1])
