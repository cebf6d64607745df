#!/bin/bash
# session 18 (main at c8dbdda; each variant a patch here): as run35.sh, with the 16-row product summed in spans of 256 inputs (the 24 sums kept between
# spans), so that x and the block's span stay in L1; the next block asked for into L1, L2 or not at all.
cd bench/results/xeon-2026-12-01-s18
V="old none sp256_t1 sp256_t0 sp256_none b_t1_1"
for v in $V; do
  mkdir -p /tmp/k_$v && cp ../../../model/cpu_kernel.c ../../../model/cpu_step.c ../../../model/cpu_kernel.h /tmp/k_$v/
  [ $v = old ] || patch -s /tmp/k_$v/cpu_kernel.c $v.patch || exit 1
  (cd /tmp/k_$v && gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c cpu_step.c -o libk.so -lm) || exit 1
  gcc -O2 -fopenmp -I ../../../model hotso.c -o /tmp/k_$v/hot -L/tmp/k_$v -lk -Wl,-rpath,/tmp/k_$v -lm || exit 1
done
for round in 1 2 3; do for v in $V; do for shape in "16 768 256" "16 3072 64"; do
  echo -n "$v "; taskset -c 0,1 /tmp/k_$v/hot $shape | tail -2 | head -1; done; done; done
echo "done at $SECONDS s"
