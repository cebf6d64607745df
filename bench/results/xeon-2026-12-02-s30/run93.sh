#!/bin/bash
# session 30 on B (2 cores pinned): GPT-2's 49 fp32 panel products (whose FMAs this session left as they were),
# b8d4374 (s30base) against this tree and swapped, 11 alternated rounds, AVX-512 build and AVX2 build.
P=bench/results/xeon-2026-12-02-s29/products_ab.sh
for f in "" -mno-avx512f; do
  bash $P /tmp/f1 s30base . $f && bash $P /tmp/f2 . s30base $f || exit 1
  echo "== build flags '$f': b8d4374 (A) | this tree (B)"; taskset -c 0,1 /tmp/f1 11 1 4 8 16 32
  echo "== build flags '$f': this tree (A) | b8d4374 (B)"; taskset -c 0,1 /tmp/f2 11 1 4 8 16 32
done 2>&1 | tee $OUT/products_fp32_run93.txt
echo "== ($SECONDS s)"
