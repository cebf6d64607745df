#!/bin/bash
# session 18 (main at c8dbdda; each variant a patch here): the 16-row fp32 product on machine B (2 pinned cores) with the next block's prefetches issued
# another way: none; two contiguous lines an iteration (c2, into L1 or L2); a burst before each group's pass
# (b, into L1 or L2, one or two blocks ahead); main's kernel (old) alternated with them.
cd bench/results/xeon-2026-12-01-s18
V=${V:-"old none c2_t0 c2_t1 b_t0_1 b_t1_1 b_t1_2"}  # run36.sh passes its own
for v in $V; do ./build_variant.sh $v || exit 1; done
for round in 1 2 3; do for v in $V; do for shape in "16 768 256" "16 3072 64"; do
  echo -n "$v "; taskset -c 0,1 /tmp/k_$v/hot $shape | tail -2 | head -1; done; done; done
echo "done at $SECONDS s"
