#!/bin/bash
# session 30 on B (2 cores pinned), this tree (bf16 spans widened once, each group asking for its share of the next
# span): bits against b8d4374 (s30base) in the AVX-512 and the AVX2 build, the panels' and C step's tests, GPT-2's
# 49 bf16 products (x fp32) alternated call by call against b8d4374 in both builds and against the widening that
# asked AHEAD bytes ahead (s30ahead, run89's).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache91
A=s30ab; P=bench/results/xeon-2026-12-02-s30/products_ab_bf16.sh
lscpu | grep -i "model name"
bash bench/results/xeon-2026-12-02-s30/bits_builds.sh $OUT/bits_run91.txt || exit 1
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -2 | tee $OUT/tests_run91.txt
bash $P /tmp/p1 s30base . && taskset -c 0,1 /tmp/p1 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_run91.txt
bash $P /tmp/p2 s30ahead . && taskset -c 0,1 /tmp/p2 11 8 12 16 32 | tee $OUT/products_bf16_vs_ahead_run91.txt
bash $P /tmp/p3 s30base . -mno-avx512f && taskset -c 0,1 /tmp/p3 11 4 8 12 16 32 64 256 | tee $OUT/products_bf16_avx2_build_run91.txt
echo "== ($SECONDS s)"
