#!/bin/bash
# session 30 on B (2 cores pinned): bf16 panels widened once per span for groups of rows (this tree) against
# b8d4374 (s30base): bits old vs new in the AVX-512 and the AVX2 build, the panels' and C step's tests, GPT-2's 49
# bf16 panel products (x fp32, BF16_WIDE) alternated call by call in both builds.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache89
A=s30ab
lscpu | grep -i "model name"; grep -o 'avx512f \|avx512_bf16\|amx_tile' /proc/cpuinfo | sort | uniq -c
bash bench/results/xeon-2026-12-02-s30/bits_builds.sh $OUT/bits_run89.txt || exit 1
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -4 | tee $OUT/tests_run89.txt
bash $A/ab.sh /tmp/pab s30base . && taskset -c 0,1 /tmp/pab 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_run89.txt
bash $A/ab.sh /tmp/pab2 s30base . -mno-avx512f && taskset -c 0,1 /tmp/pab2 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_avx2_build_run89.txt
echo "== ($SECONDS s)"
