#!/bin/bash
# session 18 (main at c8dbdda; each variant a patch here): machine B's FMA peak on the two pinned cores, and the 16-row fp32 product's rate with the weights
# streamed from memory (cold) and resident in L2 (hot), for main's kernel and three variants.
cd bench/results/xeon-2026-12-01-s18
lscpu | grep -E "^Model name|^CPU\(s\)|^Thread|^Core|MHz|L1d|L2|L3"; lscpu -e | head -20
gcc -O3 -march=native -fopenmp peak.c -o /tmp/peak && taskset -c 0,1 /tmp/peak && echo "cores 0,8:" && OMP_NUM_THREADS=2 taskset -c 0,8 /tmp/peak | tail -2
for v in old k3 t1 none; do ./build_variant.sh $v || exit 1; done
for round in 1 2; do for v in old k3 t1 none; do for shape in "16 768 256" "16 3072 64" "1 768 256"; do
  echo -n "$v "; taskset -c 0,1 /tmp/k_$v/hot $shape | tail -2; done; done; done
echo "done at $SECONDS s"
