"""Import a Hugging Face GPT-2 directory as a checkpoint of ours: `python -m model.import_hf HFDIR OUT.pt`."""
from __future__ import annotations

import argparse
import sys

from .checkpoint import CheckpointError, save_checkpoint
from .loader import load_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.import_hf", description=__doc__)
    p.add_argument("hf_dir")
    p.add_argument("out", help="the .pt file to write (build-nanogpt's layout, as model.train writes)")
    args = p.parse_args(argv)
    try:
        lm = load_model(args.hf_dir, device="cpu", dtype="float32")
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        save_checkpoint(args.out, lm.model)  # contiguous tensors: Conv1D weights are written in nn.Linear's layout
    except OSError as e:
        print(f"error: {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
