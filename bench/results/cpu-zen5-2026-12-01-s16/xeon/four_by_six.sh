#!/bin/bash
cd "$(dirname "$0")"  # beside products_harness.c (../../cpu-zen5-2026-12-01-s15/), model/cpu_kernel.h and the patched copies of model/cpu_kernel.c (*.patch here)
build() { gcc -O3 -march=native -fopenmp -I. $2 -DKERNEL="\"$PWD/$3\"" products_harness.c -lm -o h_$1; }
build base "" var.c; build b46 "" b46.c
for round in 1 2 3 4; do
  for R in 4 8 16 32; do
    for n in base b46; do echo "r$round $n $(OMP_PROC_BIND=close taskset -c 0,1 ./h_$n $R 2 | tail -1)"; done
  done
done
