"""Multi-turn chat through HTTP: time to first token per turn, with the prefix cache on and off, same run.

    python -m bench.multiturn [--device cpu|cuda] [--turns 10] [--added 80] [--output-len 40] [--chats 5]

A GPT-2 124M-shaped model (random weights, bench.decode's) is served by two gunicorn servers, one with the
prefix cache at its default and one with PREFIX_CACHE_MB=0. A chat is --turns streamed completions; each prompt
is the previous prompt plus --added new random tokens, so the last turn sends about turns x added tokens. The
answer the server gave is not sent back: the new tokens stand for it and the next user message, as if a client
re-encoded the answer differently. That is the worst case for the cache (only what this client sent before is
reused); a client whose answers re-encode to the same tokens reuses them too. The two servers take turns: each
chat runs on one, then the same chat on the other, --chats times, each chat with its own tokens.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import torch

from bench.decode import N_VOCAB, build_models, write_checkpoint
from bench.serve import KEY, start_server

MODEL = "gpt2-124m-random.pt"


def turn(client: httpx.Client, url: str, prompt: list[int], output_len: int) -> tuple[float, int]:
    """Seconds to the first streamed text, and the prompt tokens the server read from its cache."""
    body = {"model": MODEL, "prompt": prompt, "max_tokens": output_len, "ignore_eos": True, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    t0, ttft, cached = time.perf_counter(), None, 0
    with client.stream("POST", url + "/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            obj = json.loads(line[6:])
            if ttft is None and obj["choices"] and obj["choices"][0]["text"]:
                ttft = time.perf_counter() - t0
            if obj.get("usage"):
                cached = obj["usage"]["prompt_tokens_details"]["cached_tokens"]
    return ttft, cached


def chat(client: httpx.Client, url: str, seed: int, args) -> list[dict]:
    rng, prompt, out = random.Random(seed), [], []
    for _ in range(args.turns):
        prompt = prompt + [rng.randrange(N_VOCAB - 1) for _ in range(args.added)]
        ttft, cached = turn(client, url, prompt, args.output_len)
        out.append({"prompt_tokens": len(prompt), "cached_tokens": cached, "ttft_ms": 1e3 * ttft})
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--added", type=int, default=80, help="new prompt tokens per turn")
    ap.add_argument("--output-len", type=int, default=40)
    ap.add_argument("--chats", type=int, default=5, help="chats per side, alternating the servers")
    ap.add_argument("--quantize", default="none", choices=["none", "int8"])
    ap.add_argument("--json", default="bench/results/multiturn.json")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    lm, _ = build_models("124M", device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    tmp = Path(tempfile.mkdtemp(prefix="bench-multiturn-"))
    write_checkpoint(lm, tmp / MODEL)
    del lm
    servers = {}
    try:
        for side, cache_mb in (("cache on", None), ("cache off", "0")):
            env = {"PREFIX_CACHE_MB": cache_mb} if cache_mb is not None else {}
            servers[side] = start_server(tmp / MODEL, args, 1, tmp / f"{side}.log", **env)
        runs: dict[str, list[list[dict]]] = {side: [] for side in servers}
        with httpx.Client(timeout=600) as client:
            for _, url in servers.values():  # load the model and warm up outside the measurement
                chat(client, url, -1, argparse.Namespace(**{**vars(args), "turns": 2}))
            for n in range(args.chats):
                order = list(servers.items()) if n % 2 == 0 else list(servers.items())[::-1]
                for side, (_, url) in order:
                    runs[side].append(chat(client, url, n, args))
                    print(side, json.dumps([t["ttft_ms"] for t in runs[side][-1]]), flush=True)
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, 15)
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)  # a 475 MB checkpoint per run otherwise
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    table = []
    for t in range(args.turns):
        row = {"turn": t + 1, "prompt_tokens": runs["cache on"][0][t]["prompt_tokens"]}
        for side in servers:
            ttfts = [run[t]["ttft_ms"] for run in runs[side]]
            row[side] = {"ttft_ms_median": statistics.median(ttfts), "ttft_ms_min": min(ttfts),
                         "ttft_ms_max": max(ttfts), "cached_tokens": runs[side][0][t]["cached_tokens"]}
        row["off_over_on"] = row["cache off"]["ttft_ms_median"] / row["cache on"]["ttft_ms_median"]
        table.append(row)
    result = {"title": f"GPT-2 124M, {name}; {args.turns} turns, +{args.added} tokens a turn, output "
                       f"{args.output_len}, {args.chats} chats per side", "args": vars(args),
              "torch": torch.__version__, "turns": table}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(result["title"])
    print(f"{'turn':>4} {'prompt':>6} {'cached':>6} {'TTFT on, ms (min-max)':>24} {'TTFT off, ms (min-max)':>24} "
          f"{'off/on':>6}")
    for row in table:
        on, off = row["cache on"], row["cache off"]
        print(f"{row['turn']:>4} {row['prompt_tokens']:>6} {on['cached_tokens']:>6} "
              f"{on['ttft_ms_median']:>8.1f} ({on['ttft_ms_min']:.1f}-{on['ttft_ms_max']:.1f}){'':>3} "
              f"{off['ttft_ms_median']:>8.1f} ({off['ttft_ms_min']:.1f}-{off['ttft_ms_max']:.1f}){'':>3} "
              f"{row['off_over_on']:>5.2f}x")
    return result


if __name__ == "__main__":
    main()
