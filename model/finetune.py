"""Fine-tune a GPT on chosen replies (SFT) or on preference pairs (DPO), build-nanogpt style.

    python -m model.finetune --method dpo --data prefs.jsonl --init-from log/model_19072.pt --out log/my-dpo
    python -m model.finetune --method sft --data prefs.jsonl --init-from shakespeare-12m.pt --out log/my-sft

--data is JSONL, one object a line: {"prompt": str, "chosen": str, "rejected": str} (TRL's standard preference
layout; `rejected` is optional for SFT). The text is used as given: the prompt already rendered in the model's
chat transcript (the server's /api/dataset/export?format=text does that), the replies being what follows it.
Only reply tokens are scored: SFT's loss is the mean cross-entropy of the chosen reply's tokens, prompt masked;
DPO's is -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))) on summed reply log-probs (Rafailov et al. 2023),
the reference being the initial model, whose log-probs are computed once before training so its weights never
sit beside the policy's on the GPU.

Writes OUT/ckpt.pt (build-nanogpt's layout through model.checkpoint.save_checkpoint: a folder with a ckpt.pt is a
model the server lists) at --save-every, at the end and on SIGTERM/SIGINT (finish the step, save, exit 0), and
OUT/log.txt. Progress lines, which the server parses:
    step 5/20 | loss 0.6931 | margin +0.0123 | acc 0.50 | lr 1.00e-05 | 85 ms/step
"""
from __future__ import annotations

import argparse
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .checkpoint import save_checkpoint
from .data import DataError
from .loader import resolve_device
from .settings import DTYPES
from .tokenizer import Tokenizer
from .train import autocast_for, build_model, lr_at, make_optimizer, save_meta

DEFAULT_LR = {"sft": 1e-5, "dpo": 5e-6}  # DPO moves far with little: TRL's default is 1e-6 for 7B models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.finetune", description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=("sft", "dpo"), required=True)
    p.add_argument("--data", required=True, help="JSONL of {prompt, chosen, rejected}")
    p.add_argument("--init-from", required=True, help="checkpoint to start from (any format the loader reads)")
    p.add_argument("--out", required=True, help="folder for ckpt.pt and log.txt")
    p.add_argument("--steps", "--max-steps", dest="max_steps", type=int, default=100, help="optimizer steps")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-5 for sft, 5e-6 for dpo)")
    p.add_argument("--min-lr", type=float, help="final learning rate of the cosine (default lr / 10)")
    p.add_argument("--warmup-steps", type=int, help="default steps / 10")
    p.add_argument("--beta", type=float, default=0.1, help="DPO: strength of the pull towards the reference")
    p.add_argument("--batch-size", type=int, default=8, help="examples (pairs for dpo) per step")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--grad-clip", type=float, default=1.0, help="0 = off")
    p.add_argument("--block-size", type=int, help="longest prompt + reply in tokens (default the model's); "
                                                  "longer prompts keep their end, longer replies their start")
    p.add_argument("--val-fraction", type=float, default=0.0, help="pairs held out and evaluated at start and end")
    p.add_argument("--save-every", type=int, default=0, help="0 = only at the end (and on SIGTERM)")
    p.add_argument("--save-dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 | mps")
    # what model.train's build_model reads: always a fine-tune of --init-from, architecture from the checkpoint
    p.set_defaults(resume=False, n_layer=None, n_head=None, n_embd=None, dropout=0.0, bias=True)
    args = p.parse_args(argv)
    args.lr = DEFAULT_LR[args.method] if args.lr is None else args.lr
    args.min_lr = args.lr / 10 if args.min_lr is None else args.min_lr
    args.warmup_steps = max(1, args.max_steps // 10) if args.warmup_steps is None else args.warmup_steps
    return args


@dataclass
class Example:
    chosen: list[int]  # prompt + chosen reply, token ids
    rejected: list[int] | None
    n_prompt_chosen: int  # prompt tokens at the front of `chosen` (they may be cropped differently per reply)
    n_prompt_rejected: int = 0


def read_pairs(path: str | Path, need_rejected: bool) -> list[dict]:
    """The JSONL records; a bad line is a DataError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not JSON ({e})") from None
        keys = ("prompt", "chosen", "rejected") if need_rejected else ("prompt", "chosen")
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in keys):
            raise DataError(f"{path}:{i}: expected an object with string fields {', '.join(keys)}")
        if not rec["chosen"] or (need_rejected and not rec["rejected"]):
            raise DataError(f"{path}:{i}: empty reply")
        records.append(rec)
    if not records:
        raise DataError(f"{path}: no records")
    return records


def _join(prompt: list[int], reply: list[int], max_tokens: int) -> tuple[list[int], int]:
    # the reply is what is learned, so it keeps its start; the prompt keeps its end (the turn being answered)
    if not prompt:  # nothing to predict the first reply token from (a char-level model and an empty prompt)
        prompt, reply = reply[:1], reply[1:] or reply[:1]
    reply = reply[:max_tokens - 1]
    prompt = prompt[-(max_tokens - len(reply)):]
    return prompt + reply, len(prompt)


def encode(records: list[dict], tokenizer: Tokenizer, block_size: int, with_rejected: bool) -> list[Example]:
    """Token ids of prompt + reply, at most block_size + 1 long (inputs and shifted targets fit the context)."""
    out = []
    for rec in records:
        prompt = tokenizer.encode(rec["prompt"]) or ([tokenizer.eot_id] if tokenizer.eot_id is not None else [])
        chosen, n_c = _join(prompt, tokenizer.encode(rec["chosen"]), block_size + 1)
        ex = Example(chosen, None, n_c)
        if with_rejected:
            ex.rejected, ex.n_prompt_rejected = _join(prompt, tokenizer.encode(rec["rejected"]), block_size + 1)
        out.append(ex)
    return out


def collate(seqs: list[tuple[list[int], int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) right-padded; y is -1 (ignored) on prompt and padding, so only reply tokens count."""
    T = max(len(s) for s, _ in seqs) - 1
    x = torch.zeros(len(seqs), T, dtype=torch.long)
    y = torch.full((len(seqs), T), -1, dtype=torch.long)
    for i, (s, n_prompt) in enumerate(seqs):
        t = torch.tensor(s)
        x[i, :len(s) - 1] = t[:-1]
        y[i, n_prompt - 1:len(s) - 1] = t[n_prompt:]  # target j is token j + 1: the first reply token's is n_prompt - 1
    return x.to(device), y.to(device)


def reply_logps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the summed log-prob of the reply tokens, and how many there are."""
    with autocast:
        logits, _ = model(x, y)
    # cross_entropy with ignore_index gives -log p per token and 0 where masked, without a (B, T, V) log_softmax
    nll = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-1, reduction="none")
    return -nll.view(y.shape).sum(dim=1), (y >= 0).sum(dim=1)


def pair_logps(model, examples: list[Example], device: torch.device, autocast, batch_size: int = 16) -> torch.Tensor:
    """(N, 2) summed reply log-probs [chosen, rejected] of every pair, without gradients."""
    was_training = model.training
    model.eval()
    rows = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            part = examples[i:i + batch_size]
            seqs = [(e.chosen, e.n_prompt_chosen) for e in part] + [(e.rejected, e.n_prompt_rejected) for e in part]
            lp, _ = reply_logps(model, *collate(seqs, device), autocast)
            rows.append(torch.stack(lp.float().cpu().chunk(2), dim=1))
    model.train(was_training)
    return torch.cat(rows)


def dpo_loss(policy: torch.Tensor, ref: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """policy, ref: (B, 2) [chosen, rejected] summed log-probs. Returns loss, mean reward margin, accuracy."""
    rewards = beta * (policy - ref)  # DPO's implicit rewards
    margin = rewards[:, 0] - rewards[:, 1]
    return -F.logsigmoid(margin).mean(), margin.mean().detach(), (margin > 0).float().mean()


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _StopFlag:
    """SIGTERM (the server's stop) and Ctrl+C end the run after the current step, with a checkpoint.

    A server starts this process with these signals blocked (web/annotate/jobs.py), so a stop that comes while
    torch is still importing waits, pending, until the handler is in place: unblocking delivers it here.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._set)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _set(self, signum, frame) -> None:
        self.signal = signum


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    stop = _StopFlag()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        print(line, flush=True)
        with open(out / "log.txt", "a", encoding="utf-8") as f:  # reopened per line: survives any crash
            f.write(line + "\n")

    device = resolve_device(args.device)
    dpo = args.method == "dpo"
    records = read_pairs(args.data, need_rejected=dpo)
    model, tokenizer, _, source = build_model(args, out)
    save_meta(out, tokenizer)
    block = model.config.block_size if args.block_size is None else min(args.block_size, model.config.block_size)
    examples = encode(records, tokenizer, block, with_rejected=dpo or args.val_fraction > 0)
    rng = np.random.default_rng(args.seed)
    n_val = int(len(examples) * args.val_fraction)
    order = rng.permutation(len(examples))
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]] or val
    log(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} model.finetune {args.method} from {source} on {device}; "
        f"{len(train)} train and {len(val)} held-out examples from {args.data}; {args.max_steps} steps")

    model.to(device)
    autocast = autocast_for(device)
    torch.manual_seed(args.seed)
    ref = pair_logps(model, train, device, autocast).to(device) if dpo else None

    def evaluate(step: int) -> None:
        if not val or not all(e.rejected for e in val):
            return
        lp = pair_logps(model, val, device, autocast)
        log(f"eval {step} | logp margin {(lp[:, 0] - lp[:, 1]).mean():+.4f} | chosen {lp[:, 0].mean():.3f} | "
            f"rejected {lp[:, 1].mean():.3f}")

    evaluate(0)
    opt = make_optimizer(model, args, device)
    model.train()
    step, stats, t0 = 0, {}, time.perf_counter()
    while step < args.max_steps and stop.signal is None:
        lr = lr_at(step, args)
        for group in opt.param_groups:
            group["lr"] = lr
        pick = np.random.default_rng([args.seed, step]).choice(len(train), size=min(args.batch_size, len(train)),
                                                               replace=False)
        batch = [train[i] for i in pick]
        if dpo:
            seqs = [(e.chosen, e.n_prompt_chosen) for e in batch] + [(e.rejected, e.n_prompt_rejected) for e in batch]
            lp, _ = reply_logps(model, *collate(seqs, device), autocast)  # chosen and rejected in one forward
            loss, margin, acc = dpo_loss(torch.stack(lp.chunk(2), dim=1), ref[torch.from_numpy(pick)], args.beta)
        else:
            with autocast:
                _, loss = model(*collate([(e.chosen, e.n_prompt_chosen) for e in batch], device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip or float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        stats = {"step": step, "loss": loss.item()}
        if step % args.log_every == 0 or step == args.max_steps:
            dt = (time.perf_counter() - t0) / step
            extra = f" | margin {margin.item():+.4f} | acc {acc.item():.2f}" if dpo else ""
            if dpo:
                stats.update(margin=margin.item(), acc=acc.item())
            log(f"step {step}/{args.max_steps} | loss {stats['loss']:.4f}{extra} | lr {lr:.2e} | "
                f"{dt * 1000:.0f} ms/step")
        if args.save_every and step % args.save_every == 0 and step < args.max_steps:
            _save(out, model, step, args, stats, log)
    if stop.signal is not None:
        log(f"# stopped by {signal.Signals(stop.signal).name} at step {step}/{args.max_steps}")
    evaluate(step)
    path = _save(out, model, step, args, stats, log)
    return {"checkpoint": path, "steps": step, "stopped": stop.signal is not None, **stats}


def _save(out: Path, model, step: int, args: argparse.Namespace, stats: dict, log) -> Path:
    path = out / "ckpt.pt"
    save_checkpoint(path, model, step, None, dtype=DTYPES[args.save_dtype], args=vars(args),
                    finetune={"method": args.method, "init_from": str(args.init_from), **stats})
    log(f"# saved {path} at step {step}")
    return path


if __name__ == "__main__":
    try:
        main()
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
