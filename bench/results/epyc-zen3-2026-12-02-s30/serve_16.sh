#!/bin/bash
# serve_16.sh fp32|bf16 (session 30 on E): 16 greedy streams through HTTP against llama-server --parallel 16 (its
# default f16 KV cache) on f32 or f16, ours fp32 or bf16 (DTYPE=bfloat16, its cache bf16 too), 32 requests of 128
# tokens in and 128 out, 3 alternated repeats: serve_$1.{log,json}. Ran as serve_fp32.sh and serve_bf16.sh.
R=$(cd "$(dirname "$0")" && pwd)
cd "$R/../../.."
case $1 in
  fp32) peer=f32 ;;
  bf16) peer=f16; export DTYPE=bfloat16 ;;
  *) echo "usage: serve_16.sh fp32|bf16" >&2; exit 2 ;;
esac
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp XDG_CACHE_HOME=/tmp/s30/cache-serve
timeout 900 python -m bench.serve --device cpu --concurrency 16 --client-procs 2 --rounds 2 --repeats 3 \
  --no-model-only --peer llama.cpp:$peer --json $R/serve_$1.json --plot /dev/null > $R/serve_$1.log 2>&1
echo "== serve rc $? ($SECONDS s)"; tail -3 $R/serve_$1.log
