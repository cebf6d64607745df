#!/bin/bash
# session 31, run 1 (B pinned to 2 cores), this tree: the C step's and panels' tests and the Decoder's (AVX-512, AMX);
# prefills through the C step against forward_cached's (ab_prefill_c.py), fp32 and bf16, 32 and 128 rows.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache96
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py \
  tests/model/test_cpu_step.py tests/model/test_generate.py tests/model/test_prefix_cache.py 2>&1 | tail -4 | tee $OUT/tests_run96.txt
for a in "float32 32" "bfloat16 32" "float32 128" "bfloat16 128" "float32 32 4"; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/epyc-zen3-2026-12-03-s31/ab_prefill_c.py $a 2>&1 | grep -v "^CPU"
done | tee $OUT/ab_prefill_c_run96.txt
echo "== ($SECONDS s)"
