#!/bin/bash
# session 21, machine B pinned to 2 cores, the tree of 18f7ca8: through HTTP, 1 and 16 streams, fp32 against
# llama-server f32 (run49.sh again), then bf16 (DTYPE=bfloat16) against llama-server f16.
. bench/results/xeon-2026-12-01-s21/setup.sh
serve() {  # name, then bench.serve's arguments
  local name=$1; shift
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 250 python3 -m bench.serve --device cpu --concurrency 1,16 \
    --no-model-only --client-procs 2 --rounds 2 --json $OUT/$name.json "$@" > $OUT/$name.log 2>&1
  echo "== $name rc $? ($SECONDS s)"; grep -E '^ +(1|16) |llama.cpp f(16|32):' $OUT/$name.log
}
serve serve_fp32_2 --peer llama.cpp:f32
DTYPE=bfloat16 serve serve_bf16_1 --peer llama.cpp:f16
rm -f $OUT/*.png
