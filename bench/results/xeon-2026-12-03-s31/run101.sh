#!/bin/bash
# session 31, run 6 (B pinned to 2 cores): what failed in run100's portable build (no AVX, AVX2, FMA, AVX-512).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache101
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider tests/model/test_cpu_kernel.py \
  -k portable_build 2>&1 | grep -E "FAILED|Error|assert|^E " | grep -v "^E\s*$" | head -60 | tee $OUT/portable_run101.txt
