#!/bin/bash
# session 18 (main at c8dbdda): machine B's read bandwidth on the two pinned cores (scan.c: one or eight streams a
# thread, with and without prefetches) against main's one-row product of 48 2,304 x 768 fp32 weights (hotso.c),
# alternated, three rounds.
cd bench/results/xeon-2026-12-01-s18
gcc -O3 -march=native -fopenmp scan.c -o /tmp/scan || exit 1
./build_variant.sh old || exit 1
for round in 1 2 3; do
  taskset -c 0,1 /tmp/scan | tail -1
  echo -n "rows side by side "; taskset -c 0,1 /tmp/k_old/hot 1 768 256 | tail -1
  echo -n "one after another "; ONE_ROW_STREAM=1 taskset -c 0,1 /tmp/k_old/hot 1 768 256 | tail -1
done
echo "done at $SECONDS s"
