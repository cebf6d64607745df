"""Export a checkpoint as a Hugging Face GPT-2 directory: `python -m model.export_hf CKPT OUTDIR`.

transformers' AutoModelForCausalLM and AutoTokenizer load the result offline, and `vllm serve OUTDIR` serves it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .hf import hf_config, hf_state_dict
from .loader import load_model
from .tokenizer import ASSETS, ENDOFTEXT, GPT2Tokenizer


def export_hf(checkpoint: str | Path, out_dir: str | Path, gelu: str | None = None) -> Path:
    """Write config.json, model.safetensors, generation_config.json and the GPT-2 tokenizer files."""
    from safetensors.torch import save_file

    lm = load_model(checkpoint, device="cpu", dtype="float32", gelu=gelu)
    if not isinstance(lm.tokenizer, GPT2Tokenizer):
        raise CheckpointError(checkpoint, "only GPT-2 BPE models can be exported: Hugging Face's GPT-2 tokenizer "
                                          "has no character-level vocabulary")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_vocab, eot = lm.tokenizer.n_vocab, lm.tokenizer.eot_id
    save_file(hf_state_dict(lm.model, n_vocab), out / "model.safetensors", metadata={"format": "pt"})
    _write_json(out / "config.json", {**hf_config(lm.config, n_vocab), "torch_dtype": "float32"})
    _write_json(out / "generation_config.json", {"bos_token_id": eot, "eos_token_id": eot})
    # OpenAI's encoder.json and vocab.bpe are, byte for byte, Hugging Face's vocab.json and merges.txt
    shutil.copyfile(ASSETS / "encoder.json", out / "vocab.json")
    shutil.copyfile(ASSETS / "vocab.bpe", out / "merges.txt")
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": lm.config.block_size,
        "bos_token": ENDOFTEXT, "eos_token": ENDOFTEXT, "unk_token": ENDOFTEXT, "add_prefix_space": False})
    _write_json(out / "special_tokens_map.json", {"bos_token": ENDOFTEXT, "eos_token": ENDOFTEXT,
                                                  "unk_token": ENDOFTEXT})
    return out


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.export_hf", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out_dir")
    p.add_argument("--gelu", choices=["none", "tanh"], default=None, help="override the checkpoint's GELU")
    args = p.parse_args(argv)
    try:
        out = export_hf(args.checkpoint, args.out_dir, gelu=args.gelu)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}: load it with transformers' AutoModelForCausalLM, or serve it with `vllm serve {out}`",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
