#!/bin/bash
# session 30 on B (2 cores pinned): bf16 panels widened once per span for groups of rows (this tree) against
# b8d4374 (s30base): bits old vs new in the AVX-512 and the AVX2 build, the panels' and C step's tests, GPT-2's 49
# bf16 panel products (x fp32, BF16_WIDE) alternated call by call in both builds.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache89
A=s30ab
lscpu | grep -i "model name"; grep -o 'avx512f \|avx512_bf16\|amx_tile' /proc/cpuinfo | sort | uniq -c
for f in "" -mno-avx512f; do
  for side in old new; do
    src=s30base/model; [ $side = new ] && src=model
    cc -O3 -march=native $f -fopenmp -I$src -o /tmp/bits_$side $A/bits.c $src/cpu_panels.c $src/cpu_kernel.c -lm || exit 1
    taskset -c 0,1 /tmp/bits_$side > /tmp/bits_$side$f.out
  done
  cmp /tmp/bits_old$f.out /tmp/bits_new$f.out && echo "bits old = new (build flags: '$f')"
done 2>&1 | tee $OUT/bits_run89.txt
cmp /tmp/bits_new.out /tmp/bits_new-mno-avx512f.out && echo "AVX-512 = AVX2 build" | tee -a $OUT/bits_run89.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -4 | tee $OUT/tests_run89.txt
bash $A/ab.sh /tmp/pab s30base . && taskset -c 0,1 /tmp/pab 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_run89.txt
bash $A/ab.sh /tmp/pab2 s30base . -mno-avx512f && taskset -c 0,1 /tmp/pab2 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_avx2_build_run89.txt
echo "== ($SECONDS s)"
