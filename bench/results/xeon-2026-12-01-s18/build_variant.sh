#!/bin/bash
# build_variant.sh V: model/cpu_kernel.c with V.patch applied (V=old: as it is), built as model/cpu_kernel.py builds
# it into /tmp/k_V/libk.so, and hotso.c linked to it as /tmp/k_V/hot. Run from this folder.
v=$1
mkdir -p /tmp/k_$v && cp ../../../model/cpu_kernel.c ../../../model/cpu_step.c ../../../model/cpu_kernel.h /tmp/k_$v/
[ $v = old ] || patch -s /tmp/k_$v/cpu_kernel.c $v.patch || exit 1
(cd /tmp/k_$v && gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c cpu_step.c -o libk.so -lm) || exit 1
gcc -O2 -fopenmp -I ../../../model hotso.c -o /tmp/k_$v/hot -L/tmp/k_$v -lk -Wl,-rpath,/tmp/k_$v -lm
