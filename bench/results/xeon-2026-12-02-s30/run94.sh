#!/bin/bash
# session 30 on B (2 cores pinned), after run93 found this session's first tree (whose group passes were told by their
# caller whether their sums start from zero) 0.45-0.63x on fp32 products of 16 and 32 rows: the group passes as at
# b8d4374, the widened span read through an address offset instead. fp32 both orders, bf16, bits, tests.
# run94.sh [N]: N names the run (94; run95.sh runs it as 95 on the final tree).
N=${1:-94}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache$N
P=bench/results/xeon-2026-12-02-s29/products_ab.sh; R=bench/results/xeon-2026-12-02-s30
{ bash $P /tmp/f1 s30base . && bash $P /tmp/f2 . s30base && bash $R/products_ab_bf16.sh /tmp/b1 s30base . || exit 1
  echo "== fp32, b8d4374 (A) | this tree (B)"; taskset -c 0,1 /tmp/f1 11 1 4 8 16 32
  echo "== fp32, this tree (A) | b8d4374 (B)"; taskset -c 0,1 /tmp/f2 11 1 4 8 16 32
  echo "== bf16, b8d4374 (A) | this tree (B)"; taskset -c 0,1 /tmp/b1 11 8 16 32 256
  for side in old new; do
    src=s30base/model; [ $side = new ] && src=model
    cc -O3 -march=native -fopenmp -I$src -o /tmp/bits_$side $R/bits.c $src/cpu_panels.c $src/cpu_kernel.c -lm || exit 1
    taskset -c 0,1 /tmp/bits_$side > /tmp/bits_$side.out
  done
  cmp /tmp/bits_old.out /tmp/bits_new.out && echo "bf16 bits old = new (AVX-512)"
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -1
} 2>&1 | tee $OUT/products_run$N.txt
echo "== ($SECONDS s)"
