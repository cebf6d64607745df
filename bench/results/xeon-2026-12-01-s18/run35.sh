#!/bin/bash
# session 18 (main at c8dbdda; each variant a patch here): the 16-row fp32 product on machine B (2 pinned cores) with the next block's prefetches issued
# another way: none; two contiguous lines an iteration (c2, into L1 or L2); a burst before each group's pass
# (b, into L1 or L2, one or two blocks ahead); main's kernel (old) alternated with them.
cd bench/results/xeon-2026-12-01-s18
V="old none c2_t0 c2_t1 b_t0_1 b_t1_1 b_t1_2"
for v in $V; do
  mkdir -p /tmp/k_$v && cp ../../../model/cpu_kernel.c ../../../model/cpu_step.c ../../../model/cpu_kernel.h /tmp/k_$v/
  [ $v = old ] || patch -s /tmp/k_$v/cpu_kernel.c $v.patch || exit 1
  (cd /tmp/k_$v && gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c cpu_step.c -o libk.so -lm) || exit 1
  gcc -O2 -fopenmp -I ../../../model hotso.c -o /tmp/k_$v/hot -L/tmp/k_$v -lk -Wl,-rpath,/tmp/k_$v -lm || exit 1
done
for round in 1 2 3; do for v in $V; do for shape in "16 768 256" "16 3072 64"; do
  echo -n "$v "; taskset -c 0,1 /tmp/k_$v/hot $shape | tail -2 | head -1; done; done; done
echo "done at $SECONDS s"
