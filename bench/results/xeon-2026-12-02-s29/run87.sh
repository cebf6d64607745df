#!/bin/bash
# session 29, run 1 (B pinned to 2 cores): attention alone, the committed tree (s29base, c392079) against this one
# (eight keys a pass in 256-bit vectors, the values' sums in registers, (row, head) items shared by keys to read),
# 3 alternated rounds; the C step's and panels' tests; 16 greedy fp32 streams against transformers (as run85).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache87
R=bench/results/xeon-2026-12-02-s29
grep -m1 "model name" /proc/cpuinfo
for side in base new; do
  tree=$PWD; [ $side = base ] && tree=$PWD/s29base
  cc -O3 -march=native -fopenmp -I$tree/model -o /tmp/attn_$side $R/attn_bench.c $tree/model/cpu_kernel.c $tree/model/cpu_panels.c -lm || exit 1
done
for round in 1 2 3; do
  for side in base new; do
    echo -n "$side: "; for s in "1 192" "16 192" "16 448" "16 -1" "16 -2"; do taskset -c 0,1 /tmp/attn_$side $s 21; echo -n " | "; done; echo
  done
done 2>&1 | tee $OUT/attention_run87.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -3 | tee $OUT/tests_run87.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run87.json --plot /dev/null > $OUT/serve_16_run87.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run87.log
