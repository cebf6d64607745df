#!/bin/bash
# session 19: the Xeon host, everything pinned to 2 cores: 16 fp32 streams through HTTP against llama-server
# --parallel 16 f32 (its KV cache f16, its default), our KV cache float32 (auto) and bfloat16 (KV_CACHE_DTYPE)
# alternated: prompts of 128 tokens and 128 out, twice each; then prompts of 640 and 256 out, once each.
# setup.sh installs the wheels and builds llama.cpp first.
. "$(dirname "$0")/setup.sh"
for rep in 1 2; do for kv in auto bfloat16; do serve p128_${kv}_$rep --rounds 2 --kv-cache-dtype $kv; done; done
for kv in auto bfloat16; do serve p640_$kv --rounds 1 --prompt-len 640 --output-len 256 --kv-cache-dtype $kv; done
rm -f $OUT/*.png $OUT/*.log
