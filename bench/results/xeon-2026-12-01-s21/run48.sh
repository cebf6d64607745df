#!/bin/bash
# session 21, machine B pinned to 2 cores, the tree of 62a6008 (every group of rows asking ahead): fp32 in panels
# against transformers, model only, batch 1 and 16, twice (as session 20's run46.sh); llama.cpp built for run49.sh,
# its binaries brought back as llama-bin.tgz.
. bench/results/xeon-2026-12-01-s19/setup.sh
for i in 1 2; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 -m bench.decode --device cpu \
    --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --json $OUT/decode_fp32_$i.json > $OUT/decode_fp32_$i.log 2>&1
  echo "== bench.decode $i rc $? ($SECONDS s)"; grep -A4 "^batch" $OUT/decode_fp32_$i.log | grep -v greedy
  grep -o "CPU products from panels.*" $OUT/decode_fp32_$i.log
done
(cd $R/vendor/llama.cpp/build && tar czf $OUT/llama-bin.tgz bin/llama-bench bin/llama-server $(find . -name '*.so*'))
ls -la $OUT/llama-bin.tgz
