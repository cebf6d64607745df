#!/bin/bash
# session 27, run 7 (B pinned to 2 cores, at 846e263): 16 greedy streams against transformers' generate, 32
# requests, 3 alternated repeats, on another machine of the pool (run79's first half).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache82
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 250 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run82.json --plot /dev/null > $OUT/serve_16_run82.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run82.log
