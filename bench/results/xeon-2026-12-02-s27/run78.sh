#!/bin/bash
# session 27, run 3 (B pinned to 2 cores, the machine of run77 still warm): bench.serve as run77 again.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache78
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 420 python3 -m bench.serve --device cpu --concurrency 1,16 --client-procs 2 \
  --rounds 2 --repeats 3 --json $OUT/serve_greedy_b78.json --plot /dev/null > $OUT/serve_greedy_b78.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -6 $OUT/serve_greedy_b78.log
