#!/bin/bash
# session 30 on E (this tree): 16 streams of a bf16 model (DTYPE=bfloat16) through HTTP against llama-server f16
# (--parallel 16, its f16 KV cache; ours bf16), 32 requests of 128 tokens in and 128 out, 3 alternated repeats.
R=$(cd "$(dirname "$0")" && pwd)
cd "$R/../../.."
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp XDG_CACHE_HOME=/tmp/s30/cache-serve DTYPE=bfloat16
timeout 900 python -m bench.serve --device cpu --concurrency 16 --client-procs 2 --rounds 2 --repeats 3 \
  --no-model-only --peer llama.cpp:f16 --json $R/serve_bf16.json --plot /dev/null > $R/serve_bf16.log 2>&1
echo "== serve rc $? ($SECONDS s)"; tail -3 $R/serve_bf16.log
