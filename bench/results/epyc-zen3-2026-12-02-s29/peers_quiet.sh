#!/bin/bash
# session 29 on E, at the end (this tree; the VM quieter than during peers.sh): 16 greedy fp32 streams against
# llama-server f32, 3 alternated repeats; batch 1 fp32 against llama-bench (decode, and the prefill of 32 tokens).
R=$(cd "$(dirname "$0")" && pwd)
cd "$R/../../.."
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp XDG_CACHE_HOME=/tmp/s29/cache-quiet
timeout 900 python -m bench.serve --device cpu --concurrency 16 --client-procs 2 --rounds 2 --repeats 3 \
  --no-model-only --peer llama.cpp:f32 --json $R/serve_llama_cpp_quiet.json --plot /dev/null > $R/serve_llama_cpp_quiet.log 2>&1
echo "== serve llama.cpp rc $? ($SECONDS s)"; tail -3 $R/serve_llama_cpp_quiet.log
timeout 600 python -m bench.decode --peer llama.cpp --batch-sizes 1 --repeats 3 \
  --json $R/decode_llama_cpp_quiet.json > $R/decode_llama_cpp_quiet.log 2>&1
echo "== decode rc $? ($SECONDS s)"; tail -5 $R/decode_llama_cpp_quiet.log
