#!/bin/bash
# bits_builds.sh OUT_FILE (from the repository's root, b8d4374's model/ as s30base/): bits.c built against b8d4374
# and against this tree, in the AVX-512 build and in the AVX2 build (-mno-avx512f), compared byte for byte; then this
# tree's two builds against each other. run89 and run91 ran these lines inline.
here=$(cd "$(dirname "$0")" && pwd)
for f in "" -mno-avx512f; do
  for side in old new; do
    src=s30base/model; [ $side = new ] && src=model
    cc -O3 -march=native $f -fopenmp -I$src -o /tmp/bits_$side $here/bits.c $src/cpu_panels.c $src/cpu_kernel.c -lm || exit 1
    taskset -c 0,1 /tmp/bits_$side > /tmp/bits_$side$f.out
  done
  cmp /tmp/bits_old$f.out /tmp/bits_new$f.out && echo "bits old = new (build flags: '$f')"
done 2>&1 | tee "$1"
cmp /tmp/bits_new.out /tmp/bits_new-mno-avx512f.out && echo "AVX-512 = AVX2 build" | tee -a "$1"
