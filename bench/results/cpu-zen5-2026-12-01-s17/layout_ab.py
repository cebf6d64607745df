"""The C decode step on both KV-cache layouts in one process, alternated:
python layout_ab.py OLD_MODEL_DIR ROWS NEW_MODEL_DIR [PROMPT], from the root of a tree with kv_by_position.patch.

OLD_MODEL_DIR holds model/ of e86c238, whose cache keeps each head's positions as a run; NEW_MODEL_DIR model/ with
kv_by_position.patch applied (a slot's positions one after another, all heads side by side). Both decode the same
tokens after the same PROMPT-token prompts (default 128; PyTorch's prefill), 32 steps a sample, 8 samples a side,
the sides taking turns to go first; prints the medians and how often the new layout won."""
import ctypes
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.decode import build_models
from model import cpu_kernel
from model.cpu_step import FusedDecode
from model.kv_cache import KVCache


def build(src: Path) -> ctypes.CDLL:
    out = Path(tempfile.mkdtemp()) / "step.so"
    subprocess.run(["cc", *cpu_kernel.FLAGS, "-I", str(src), str(src / "cpu_kernel.c"), str(src / "cpu_step.c"),
                    "-lm", "-o", str(out)], check=True)
    lib = cpu_kernel.load(out)
    lib.decode_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_int]
    lib.decode_step.restype = ctypes.c_int
    return lib


def main():
    torch.set_num_threads(2)
    old_src, rows = Path(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    lm, _ = build_models("124M", torch.device("cpu"), torch.float32)
    model = getattr(lm, "model", lm)
    cfg = model.config
    eps = model.transformer.ln_f.eps
    prompts = torch.randint(0, 50256, (rows, n), generator=torch.Generator().manual_seed(0))
    steps = {}
    new_src = Path(sys.argv[3])
    for name, src in (("by head", old_src), ("by position", new_src)):
        cache = KVCache(cfg, rows, 1024, "cpu", torch.float32)
        if name == "by head":
            cache.kv = torch.zeros((cfg.n_layer, 2, rows, cfg.n_head, 1024, cfg.head_size))
            cache.k, cache.v = [layer[0] for layer in cache.kv], [layer[1] for layer in cache.kv]
        with torch.inference_mode():
            for r in range(rows):
                model.forward_cached(prompts[r:r + 1], torch.arange(n)[None], cache.rows(r, r + 1), n, start=0)
        steps[name] = FusedDecode(model, cache, build(src).decode_step, eps)
    tokens = torch.randint(0, 50256, (rows,), generator=torch.Generator().manual_seed(1))
    times = {name: [] for name in steps}
    with torch.inference_mode():
        for sample in range(8):
            for name in (list(steps) if sample % 2 else list(steps)[::-1]):
                start = time.perf_counter()
                for s in range(32):
                    steps[name].run(torch.stack([tokens, torch.full((rows,), n + s)], dim=1))
                times[name].append((time.perf_counter() - start) / 32 * 1e3)
    for name, t in times.items():
        print(f"rows {rows}, prompt {n}, cache {name}: step median {statistics.median(t):.2f} ms, "
              f"range {min(t):.2f}-{max(t):.2f}")
    wins = sum(a < b for a, b in zip(times["by position"], times["by head"]))
    print(f"by position faster in {wins} of {len(times['by head'])} samples")


if __name__ == "__main__":
    main()
