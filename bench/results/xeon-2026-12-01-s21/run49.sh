#!/bin/bash
# session 21, machine B pinned to 2 cores, the tree of 62a6008: fp32 in panels through HTTP, 1 and 16 streams,
# against llama-server --parallel 16 f32 (its default f16 KV cache).
. bench/results/xeon-2026-12-01-s19/setup.sh
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 400 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --no-model-only --client-procs 2 --peer llama.cpp:f32 --rounds 2 --json $OUT/serve_fp32.json > $OUT/serve_fp32.log 2>&1
echo "== serve rc $? ($SECONDS s)"; grep -E '^ +(1|16) |llama.cpp f32:' $OUT/serve_fp32.log
rm -f $OUT/*.png
