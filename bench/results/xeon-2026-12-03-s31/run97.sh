#!/bin/bash
# session 31, run 2 (B pinned to 2 cores), this tree: a bf16 model's C step multiplies bf16 pairs (vdpbf16ps) where
# the CPU has them; the tests again; prefills through the C step against forward_cached's, bf16 32 and 128 rows;
# 16 greedy fp32 streams against transformers' generate, 3 alternated repeats.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache97
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py \
  tests/model/test_cpu_step.py tests/model/test_generate.py tests/model/test_bf16.py 2>&1 | tail -4 | tee $OUT/tests_run97.txt
for a in "bfloat16 32" "bfloat16 128" "bfloat16 8"; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/epyc-zen3-2026-12-03-s31/ab_prefill_c.py $a 2>&1 | grep -v "^CPU"
done | tee $OUT/ab_prefill_c_run97.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run97.json --plot /dev/null > $OUT/serve_16_run97.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run97.log | cut -c1-400
