#!/bin/bash
# products_harness variants on the device host, pinned to cores 0-1 (as machine B)
cd "$(dirname "$0")"  # beside products_harness.c (../../cpu-zen5-2026-12-01-s15/), model/cpu_kernel.h and the patched copies of model/cpu_kernel.c (*.patch here)
lscpu | grep -E "Model name|MHz" | head -3
build() { gcc -O3 -march=native -fopenmp -I. $2 -DKERNEL="\"$PWD/$3\"" products_harness.c -lm -o h_$1; }
build base "" var.c; build nopf "-DPF0=0" var.c; build t1 "-DH0=_MM_HINT_T1" var.c; build t0t1x3 "-DPF1=3" var.c
build rr "" rr.c; build lin2 "" lin2.c
for round in 1 2 3; do
  for n in base rr lin2 nopf t1 t0t1x3; do
    for R in 1 8 16; do echo "r$round $n $(OMP_PROC_BIND=close taskset -c 0,1 ./h_$n $R 2 | tail -1)"; done
  done
done
