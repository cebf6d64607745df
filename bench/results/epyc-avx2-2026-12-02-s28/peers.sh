#!/bin/bash
# session 28 on the AVX2 EPYC (D), this tree: 1 and 16 greedy fp32 streams through HTTP against transformers'
# generate (model only alongside), 3 alternated repeats; then batch-1 decode, model only, against llama-bench f32.
R=$(cd "$(dirname "$0")" && pwd)
cd "$R/../../.."
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp XDG_CACHE_HOME=/tmp/s28/cache-this
timeout 1500 python -m bench.serve --device cpu --concurrency 1,16 --client-procs 2 --rounds 2 --repeats 3 \
  --json $R/serve_transformers.json --plot /dev/null > $R/serve_transformers.log 2>&1
echo "== serve rc $? ($SECONDS s)"; tail -4 $R/serve_transformers.log
timeout 900 python -m bench.decode --peer llama.cpp --batch-sizes 1 --repeats 3 --json $R/decode_llama_cpp.json \
  > $R/decode_llama_cpp.log 2>&1
echo "== decode rc $? ($SECONDS s)"; tail -8 $R/decode_llama_cpp.log
