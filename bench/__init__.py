"""Benchmarks: `python -m bench.decode` measures decode tokens/s against Hugging Face transformers."""
