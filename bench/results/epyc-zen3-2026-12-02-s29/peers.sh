#!/bin/bash
# session 29 on the Zen 3 EPYC (E), at 1c6cfbc: the issue's table on a fifth CPU. Through HTTP, 1 and 16 greedy fp32
# streams against transformers' generate (model only alongside) and against llama-server f32 (same client and
# prompts), 3 alternated repeats each; batch 1, model only, against llama-bench: fp32, int8, bf16.
R=$(cd "$(dirname "$0")" && pwd)
cd "$R/../../.."
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp XDG_CACHE_HOME=/tmp/s29/cache-peers
timeout 1800 python -m bench.serve --device cpu --concurrency 1,16 --client-procs 2 --rounds 2 --repeats 3 \
  --json $R/serve_transformers.json --plot /dev/null > $R/serve_transformers.log 2>&1
echo "== serve transformers rc $? ($SECONDS s)"; tail -4 $R/serve_transformers.log
timeout 1800 python -m bench.serve --device cpu --concurrency 1,16 --client-procs 2 --rounds 2 --repeats 3 \
  --no-model-only --peer llama.cpp:f32 --json $R/serve_llama_cpp.json --plot /dev/null > $R/serve_llama_cpp.log 2>&1
echo "== serve llama.cpp rc $? ($SECONDS s)"; tail -4 $R/serve_llama_cpp.log
for q in none int8; do
  timeout 900 python -m bench.decode --peer llama.cpp --batch-sizes 1 --repeats 3 --quantize $q \
    --json $R/decode_llama_cpp_$q.json > $R/decode_llama_cpp_$q.log 2>&1
  echo "== decode $q rc $? ($SECONDS s)"; tail -8 $R/decode_llama_cpp_$q.log
done
timeout 900 python -m bench.decode --peer llama.cpp --batch-sizes 1 --repeats 3 --dtype bfloat16 \
  --json $R/decode_llama_cpp_bf16.json > $R/decode_llama_cpp_bf16.log 2>&1
echo "== decode bf16 rc $? ($SECONDS s)"; tail -8 $R/decode_llama_cpp_bf16.log
