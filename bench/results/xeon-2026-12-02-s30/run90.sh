#!/bin/bash
# session 30 on B (2 cores pinned): a bf16 model's 16-row decode step, and its prefill, with the kernel built from
# b8d4374 (s30base) and from this tree, alternated in one process (ab_decode.py, ab_prefill.py); fp32 likewise.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache90
cc -O3 -march=native -fopenmp -shared -fPIC -Is30base/model s30base/model/cpu_kernel.c s30base/model/cpu_panels.c \
  s30base/model/cpu_step.c -lm -o /tmp/old.so || exit 1
for args in "16 bfloat16" "8 bfloat16" "16 float32"; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 s30ab/ab_decode.py $args /tmp/old.so 100 2>&1 | grep -v "^CPU" | tail -6
done 2>&1 | tee $OUT/ab_decode_run90.txt
for args in "1 32" "2 128"; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 s30ab/ab_prefill.py $args bfloat16 /tmp/old.so 15 2>&1 | tail -3
done 2>&1 | tee $OUT/ab_prefill_run90.txt
echo "== ($SECONDS s)"
