#!/bin/bash
# session 30 on B (2 cores pinned): a bf16 model held in panels (CPU_MATMUL=panels, as a CPU whose first load keeps
# them: the Zen 5) decoding 8, 16 and 32 rows through the C step, b8d4374's kernel (s30base) against this tree's,
# alternated step by step in one process (ab_decode.py).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache92 CPU_MATMUL=panels
R=bench/results/xeon-2026-12-02-s30
cc -O3 -march=native -fopenmp -shared -fPIC -Is30base/model s30base/model/cpu_kernel.c s30base/model/cpu_panels.c \
  s30base/model/cpu_step.c -lm -o /tmp/old.so || exit 1
for rows in 8 16 32; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $R/ab_decode.py $rows bfloat16 /tmp/old.so 100 2>&1 | grep -v "^CPU" | tail -6
done 2>&1 | tee $OUT/ab_decode_panels_run92.txt
echo "== ($SECONDS s)"
