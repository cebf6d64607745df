#!/bin/bash
# session 20, machine B pinned to 2 cores: the packed product (packed.c, 4 vectors of outputs by 6 rows, K in 128s)
# with the first group of rows asking PF_DIST bytes ahead in the panel (T0 or T1), against main's product; cold
# (GPT-2 124M's 49 matrices) and hot (49 products of one 384 x 768 matrix, in L2). Run from the repository's root.
D=bench/results/xeon-2026-12-01-s20; B=/tmp/pk; mkdir -p $B
cp model/cpu_kernel.c model/cpu_kernel.h $D/packed.c $D/bench.c $B/ && cd $B || exit 1
gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c -o libk.so -lm || exit 1
for v in "0 T0" "2048 T0" "8192 T0" "8192 T1" "32768 T1"; do set -- $v
  gcc -O3 -march=native -fopenmp -DNV=4 -DMR=6 -DKC=128 -DPF_DIST=$1 -DPF_HINT=_MM_HINT_$2 -I. bench.c packed.c \
    -o b_$1_$2 -L. -lk -Wl,-rpath,$B -lm 2>/dev/null || exit 1; done
for round in 1 2; do for b in b_*; do taskset -c 0,1 ./$b 16 | tail -1; taskset -c 0,1 ./$b 16 hot | tail -1; done
  for b in b_0_T0 b_8192_T1; do taskset -c 0,1 ./$b 1 | tail -1; done; done
