#!/bin/bash
# session 28, run 3 (B pinned to 2 cores, this tree after 2a339d3: the argmax head's scans as `largest` and
# `any_at_least`, a NaN estimate counted in every lane): the panels' and C step's tests, then 16 greedy fp32
# streams against transformers' generate, 32 requests, 3 alternated repeats (as session 27's run82).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache85
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -3 | tee $OUT/tests_run85.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run85.json --plot /dev/null > $OUT/serve_16_run85.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run85.log
