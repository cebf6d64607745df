"""Train or fine-tune a GPT, build-nanogpt style: AdamW, warmup + cosine LR, gradient accumulation, DDP.

One process (CPU, one GPU or Apple MPS):
    python -m model.train --data data/shakespeare --out out/shakespeare --max-steps 2000
Several GPUs of one host:
    torchrun --standalone --nproc_per_node 8 -m model.train --data ... --out ...
Fine-tune any checkpoint the loader reads (nanoGPT ckpt.pt, build-nanogpt, Hugging Face dir, ours):
    python -m model.train --data my.txt --out out/ft --init-from gpt2-dir --lr 3e-5 --max-steps 200
Continue an interrupted run from the newest OUT/model_XXXXX.pt, optimizer state included:
    python -m model.train --data ... --out out/shakespeare --max-steps 2000 --resume

Checkpoints are build-nanogpt's layout: {'model', 'config' (a GPTConfig), 'step', 'val_loss'} plus 'optimizer'
and 'args'; 'step' counts the optimizer updates in the weights. Everything loads with torch's weights-only
unpickler, so `python -m model.sample` and the server read the files directly.
"""
from __future__ import annotations

import argparse
import math
import os
import pickle
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist

from .checkpoint import read_checkpoint, save_checkpoint
from .config import GPTConfig
from .data import Batches, check_vocab, load_split
from .gpt import GPT
from .loader import resolve_device
from .settings import DTYPES
from .tokenizer import CharTokenizer, Tokenizer, gpt2_tokenizer

FRESH_ARCH = dict(n_layer=6, n_head=6, n_embd=384, block_size=256)  # used only when training from scratch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a UTF-8 text file, a folder of them, a uint16 .bin or .npy "
                                                 "shard, or a nanoGPT folder with train.bin and val.bin")
    p.add_argument("--out", required=True, help="folder for model_XXXXX.pt checkpoints and log.txt")
    m = p.add_argument_group("model (from scratch; --init-from and --resume take the checkpoint's)")
    for name in ("n_layer", "n_head", "n_embd"):
        m.add_argument("--" + name.replace("_", "-"), type=int, help=f"default {FRESH_ARCH[name]}")
    m.add_argument("--block-size", type=int, help="context length; default 256, or the checkpoint's "
                                                  "(a smaller value crops it)")
    m.add_argument("--dropout", type=float, default=0.0)
    m.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True)
    m.add_argument("--init-from", help="checkpoint to fine-tune (any format the loader reads)")
    m.add_argument("--resume", action="store_true", help="continue from the newest OUT/model_*.pt")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=16, help="sequences per micro-step per process")
    o.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimizer step")
    o.add_argument("--lr", type=float, default=6e-4, help="peak learning rate")
    o.add_argument("--min-lr", type=float, help="final learning rate of the cosine (default lr / 10)")
    o.add_argument("--warmup-steps", type=int, default=100)
    o.add_argument("--max-steps", type=int, default=1000, help="optimizer steps in the whole run")
    o.add_argument("--weight-decay", type=float, default=0.1)
    o.add_argument("--beta2", type=float, default=0.95)
    o.add_argument("--grad-clip", type=float, default=1.0, help="0 = off")
    e = p.add_argument_group("evaluation, checkpoints and system")
    e.add_argument("--val-fraction", type=float, default=0.1)
    e.add_argument("--eval-every", type=int, default=250)
    e.add_argument("--eval-iters", type=int, default=20)
    e.add_argument("--log-every", type=int, default=10)
    e.add_argument("--save-every", type=int, default=1000, help="0 = only at the end")
    e.add_argument("--save-dtype", choices=("float32", "bfloat16"), default="float32",
                   help="weights in the checkpoint; bfloat16 halves the file (for shipping, not resuming)")
    e.add_argument("--save-optimizer", action=argparse.BooleanOptionalAction, default=True,
                   help="keep AdamW's state for --resume (twice the weights' size)")
    e.add_argument("--seed", type=int, default=1337)
    e.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 | mps (torchrun: auto or cpu)")
    e.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = p.parse_args(argv)
    if args.resume and args.init_from:
        p.error("--resume and --init-from exclude each other")
    args.min_lr = args.lr / 10 if args.min_lr is None else args.min_lr
    return args


@dataclass
class Env:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup_env(device: str) -> Env:
    """torchrun sets RANK/LOCAL_RANK/WORLD_SIZE: one process per GPU, NCCL (gloo on CPU); else one process."""
    if "RANK" not in os.environ:
        return Env(device=resolve_device(device))
    rank, local_rank, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dev, backend = torch.device("cuda", local_rank), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend=backend, device_id=dev if backend == "nccl" else None)
    return Env(rank, local_rank, world, dev)


def newest_checkpoint(out: Path) -> Path:
    found = sorted(out.glob("model_*.pt"), key=lambda p: int(p.stem[6:]) if p.stem[6:].isdigit() else -1)
    if not found:
        raise SystemExit(f"--resume: no model_*.pt in {out}")
    return found[-1]


def build_model(args: argparse.Namespace, out: Path) -> tuple[GPT, Tokenizer, dict, str]:
    """The model on CPU in fp32, its tokenizer, the file's extra state (resume) and where it came from."""
    source = newest_checkpoint(out) if args.resume else args.init_from
    if source is None:
        arch = {k: getattr(args, k) or v for k, v in FRESH_ARCH.items()}
        config = GPTConfig(**arch, dropout=args.dropout, bias=args.bias, gelu_approximate="none")
        torch.manual_seed(args.seed)
        model = GPT(config)
        model.init_weights(seed=args.seed)
        return model, gpt2_tokenizer(), {}, "scratch"
    ck = read_checkpoint(source)
    # a fresh instance, so every field (gelu_approximate above all) is in vars(config) and gets pickled:
    # checkpoint.py takes a config without it for build-nanogpt's tanh GELU
    config = GPTConfig(**{f.name: getattr(ck.config, f.name) for f in fields(GPTConfig)})
    for name in ("n_layer", "n_head", "n_embd"):  # the same command line with --resume added must work
        if getattr(args, name) not in (None, getattr(config, name)):
            raise SystemExit(f"--{name.replace('_', '-')} {getattr(args, name)}: {source} has "
                             f"{getattr(config, name)}; the architecture comes from the checkpoint")
    config.dropout = args.dropout
    sd = ck.state_dict
    if args.block_size and args.block_size < config.block_size and not args.resume:
        config.block_size = args.block_size  # fewer learned positions: keep the first ones, as nanoGPT crops
        sd["transformer.wpe.weight"] = sd["transformer.wpe.weight"][:args.block_size]
    model = GPT(config)
    if not torch.equal(sd["lm_head.weight"], sd["transformer.wte.weight"]):
        print(f"note: {source} has an untied lm_head; training ties it to wte (nanoGPT's model)")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    extra = {}
    if args.resume:
        with torch.serialization.safe_globals([GPTConfig]):
            obj = torch.load(source, map_location="cpu", weights_only=True)
        extra = {"step": int(obj.get("step") or 0), "optimizer": obj.get("optimizer")}
    return model, ck.tokenizer, extra, f"{ck.format} checkpoint {source}"


def save_meta(out: Path, tokenizer: Tokenizer) -> None:
    """A char-level model's vocabulary, which the loader reads beside its checkpoint (model.finetune too)."""
    if isinstance(tokenizer, CharTokenizer):
        with open(out / "meta.pkl", "wb") as f:
            pickle.dump({"vocab_size": tokenizer.n_vocab, "stoi": tokenizer.stoi, "itos": tokenizer.itos}, f)


def make_optimizer(model: GPT, args: argparse.Namespace, device: torch.device) -> torch.optim.AdamW:
    # decay matrices and embeddings only: biases and LayerNorm gains are 1-D and keep weight_decay 0 (nanoGPT)
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() yields the tied wte once
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, args.beta2), eps=1e-8, fused=device.type == "cuda")


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warmup to --lr, then a cosine down to --min-lr at --max-steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps))
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (args.lr - args.min_lr)


def autocast_for(device: torch.device):
    """bf16 autocast on a CUDA GPU that supports it; elsewhere fp32 without a context (model.finetune too)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def all_mean(value: torch.Tensor, env: Env) -> float:
    if env.world > 1:
        value = value.clone()
        dist.all_reduce(value)  # SUM: gloo has no AVG
        value /= env.world
    return value.item()


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: Batches, iters: int, autocast, env: Env) -> float:
    model.eval()
    total = torch.zeros((), device=env.device)
    for i in range(iters):
        x, y = val.get(step=0, micro=i)  # the same val batches every time, so the numbers compare
        with autocast:
            total += model(x, y)[1].float()
    model.train()
    return all_mean(total / iters, env)


def save(path: Path, model: GPT, opt: torch.optim.Optimizer, step: int, val_loss: float | None,
         args: argparse.Namespace) -> None:
    extra = {"args": vars(args)}
    if args.save_optimizer:
        extra["optimizer"] = opt.state_dict()
    save_checkpoint(path, model, step, val_loss, dtype=DTYPES[args.save_dtype], **extra)


@dataclass
class Result:
    checkpoint: Path | None = None
    train_losses: dict[int, float] = field(default_factory=dict)  # by step, on log steps
    val_losses: dict[int, float] = field(default_factory=dict)  # by step (updates done)
    start_step: int = 0


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(argv)
    env = setup_env(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        if env.master:
            print(line, flush=True)
            with open(out / "log.txt", "a", encoding="utf-8") as f:  # reopened per line: survives any crash
                f.write(line + "\n")

    model, tokenizer, extra, source = build_model(args, out)
    start = extra.get("step", 0)
    config = model.config
    log(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} model.train from {source} at step {start}; {env.world} "
        f"process(es) on {env.device}; {model.num_params() / 1e6:.2f}M parameters; {config}")
    if env.master:
        save_meta(out, tokenizer)

    split = load_split(args.data, tokenizer, args.val_fraction)
    for name, tokens in (("train", split.train), ("val", split.val)):
        check_vocab(tokens, config.vocab_size, f"the {name} split of {args.data}")
    log(f"# data: {split.source}: {len(split.train):,} train and {len(split.val):,} val tokens")
    block = config.block_size if args.block_size is None else min(args.block_size, config.block_size)
    train = Batches(split.train, args.batch_size, block, args.seed, env.rank, env.device, "train")
    val = Batches(split.val, args.batch_size, block, args.seed, env.rank, env.device, "val")

    model.to(env.device)
    opt = make_optimizer(model, args, env.device)
    if extra.get("optimizer"):
        opt.load_state_dict(extra["optimizer"])
    elif args.resume:
        log("# note: the checkpoint holds no optimizer state (--no-save-optimizer); AdamW starts afresh")
    if env.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 leftovers outside autocast use tensor cores
    net = torch.compile(model) if args.compile else model
    train_net = torch.nn.parallel.DistributedDataParallel(net) if env.world > 1 else net
    autocast = autocast_for(env.device)
    torch.manual_seed(args.seed + env.rank + start)  # dropout masks: differ by rank, continue on resume

    result = Result(start_step=start)
    val_loss = evaluate(net, val, args.eval_iters, autocast, env)
    result.val_losses[start] = val_loss
    log(f"step {start:6d} | val loss {val_loss:.4f}")
    if start >= args.max_steps:
        log(f"# nothing to do: the run already has {start} of --max-steps {args.max_steps} steps")
    tokens_per_step = args.batch_size * block * args.grad_accum * env.world
    t_window, window_start = time.perf_counter(), start
    for step in range(start, args.max_steps):
        lr = lr_at(step, args)
        for group in opt.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=env.device)
        for micro in range(args.grad_accum):
            x, y = train.get(step, micro)
            # DDP all-reduces gradients on every backward: skip that on all but the last micro-step
            last = micro == args.grad_accum - 1
            with train_net.no_sync() if env.world > 1 and not last else nullcontext():
                with autocast:
                    loss = train_net(x, y)[1] / args.grad_accum
                loss.backward()
            loss_sum += loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip or float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        done = step + 1
        if done % args.log_every == 0 or done == args.max_steps:
            train_loss = all_mean(loss_sum, env)  # .item() waits for the GPU: only on log steps
            result.train_losses[done] = train_loss
            dt = (time.perf_counter() - t_window) / (done - window_start)
            eta = dt * (args.max_steps - done)
            log(f"step {done:6d}/{args.max_steps} | loss {train_loss:.4f} | lr {lr:.2e} | norm {norm:.3f} | "
                f"{tokens_per_step / dt:,.0f} tok/s | {dt * 1000:.1f} ms/step | ETA {eta // 60:.0f}m{eta % 60:02.0f}s")
            t_window, window_start = time.perf_counter(), done
        is_save = done == args.max_steps or (args.save_every and done % args.save_every == 0)
        if is_save or done % args.eval_every == 0:
            paused = time.perf_counter()
            val_loss = evaluate(net, val, args.eval_iters, autocast, env)
            result.val_losses[done] = val_loss
            log(f"step {done:6d} | val loss {val_loss:.4f}")
            if is_save and env.master:
                result.checkpoint = out / f"model_{done:05d}.pt"
                save(result.checkpoint, model, opt, done, val_loss, args)
                log(f"# saved {result.checkpoint}")
            t_window += time.perf_counter() - paused  # keep evaluation and saving out of tokens/s and ETA
    if dist.is_initialized():
        dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
