#!/bin/bash
# session 28, run 1 (B pinned to 2 cores): the panels' tests on a CPU with AVX-512 and AMX, among them the AVX2
# build's bits against the AVX-512 build's; then GPT-2's 49 products in the plain layout and in panels, both built
# for AVX2 (-mno-avx512f: an Intel core without AVX-512, as most laptops have), 1-128 rows.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache83
R=bench/results/xeon-2026-12-02-s28
lscpu | grep -E "Model name|^CPU\(s\)" | tee $OUT/cpu.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py 2>&1 | tail -4 | tee $OUT/tests.txt
printf '#!/bin/sh\nexec cc "$@" -mno-avx512f\n' > /tmp/cc-avx2 && chmod +x /tmp/cc-avx2
CC=/tmp/cc-avx2 XDG_CACHE_HOME=/tmp/cache83-avx2 PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $R/../epyc-avx2-2026-12-02-s28/products.py 1,8,16,32,128 9 2>&1 | tee $OUT/products_avx2_build.txt
