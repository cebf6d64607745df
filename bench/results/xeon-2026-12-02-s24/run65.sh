#!/bin/bash
# session 24, machine B pinned to 2 cores: the panel product's span (steps of a panel kept in L1 for every group of
# rows) and row block (rows per pass over the weights) at prefill's row counts, where MKL's plain layout was faster
# on B (session 23, prefill_paths.txt): GPT-2 124M's 49 fp32 products, variants alternated 9 rounds (session 22's
# sweep.c), at 16 rows (decode), 384 (a CPU prefill tick: one prompt of 128 and 256 more) and 1,024.
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES=
B=/tmp/sweep; mkdir -p $B
variant() {  # name, sed program applied to a copy of cpu_panels.c
    sed "$2" model/cpu_panels.c > $B/$1.c && gcc -O3 -march=native -fopenmp -shared -fPIC -w -Imodel $B/$1.c -o $B/$1.so -lm
}
variant base ''
variant span64 's/SPAN = 128/SPAN = 64/'
variant span32 's/SPAN = 128/SPAN = 32/'
variant block128 's/ROW_BLOCK = 256/ROW_BLOCK = 128/'
variant block64 's/ROW_BLOCK = 256/ROW_BLOCK = 64/'
gcc -O2 -fopenmp bench/results/xeon-2026-12-02-s22/sweep.c -o $B/sweep -ldl || exit 1
lscpu | grep -E "Model name|L1d|L2|L3"
for R in 16 384 1024; do
  taskset -c 0,1 $B/sweep $R $B/base.so $B/span64.so $B/span32.so $B/block128.so $B/block64.so
done | tee $OUT/span_block.txt
echo "== ($SECONDS s)"
