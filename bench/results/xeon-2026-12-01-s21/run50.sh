#!/bin/bash
# session 21, machine B pinned to 2 cores, the tree of 18f7ca8 (bf16 weights in panels too): model only, batch 1
# and 16, against transformers and llama-bench: bf16 (against f16) twice, fp32 (against f32) once.
. bench/results/xeon-2026-12-01-s21/setup.sh
decode() {  # name, then bench.decode's arguments
  local name=$1; shift
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 170 python3 -m bench.decode --device cpu --threads 2 \
    --batch-sizes 1,16 --new-tokens 64 --repeats 2 --peer llama.cpp --json $OUT/$name.json "$@" > $OUT/$name.log 2>&1
  echo "== $name rc $? ($SECONDS s)"; grep -A3 "^batch" $OUT/$name.log | grep -v greedy; grep -A4 "^llama.cpp (" $OUT/$name.log
  grep -o "CPU products from panels.*" $OUT/$name.log | head -1
}
decode decode_bf16_1 --dtype bfloat16
decode decode_fp32_3 --dtype float32
decode decode_bf16_2 --dtype bfloat16
