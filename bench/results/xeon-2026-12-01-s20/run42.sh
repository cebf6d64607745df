#!/bin/bash
# session 20, machine B pinned to 2 cores: main's fp32 product against weights packed in panels (packed.c), on
# GPT-2 124M's 49 products (bench.c, alternated, 9 rounds, medians). Run from the repository's root.
D=bench/results/xeon-2026-12-01-s20; B=/tmp/pk; mkdir -p $B
cp model/cpu_kernel.c model/cpu_kernel.h $D/packed.c $D/bench.c $B/ && cd $B || exit 1
gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c -o libk.so -lm || exit 1
for v in "3 8 128" "3 8 256" "4 6 128" "4 6 256" "2 12 128"; do set -- $v
  gcc -O3 -march=native -fopenmp -DNV=$1 -DMR=$2 -DKC=$3 -I. bench.c packed.c -o b_$1_$2_$3 -L. -lk \
    -Wl,-rpath,$B -lm 2>/dev/null || exit 1; done
for round in 1 2; do for rows in 16 1 8 32; do for b in b_*; do
  [ $rows = 16 ] || [ $b = b_3_8_128 ] || [ $b = b_4_6_128 ] || continue
  taskset -c 0,1 ./$b $rows | tail -1; done; done; done
lscpu | grep -E 'Model name|L1d|L2|L3'
