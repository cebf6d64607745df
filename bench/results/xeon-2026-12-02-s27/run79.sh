#!/bin/bash
# session 27, run 4 (B pinned to 2 cores, at 2e77e55): 16 greedy streams against transformers' generate, 32 requests
# (2 rounds, 3 alternated repeats) and 96 (6 rounds, 2 repeats), as session 24's run64 and run63.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache79
for rounds in 2 6; do
  repeats=$([ $rounds = 2 ] && echo 3 || echo 2)
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 280 python3 -m bench.serve --device cpu --concurrency 16 \
    --client-procs 2 --rounds $rounds --repeats $repeats --json $OUT/serve_16_rounds$rounds.json --plot /dev/null \
    > $OUT/serve_16_rounds$rounds.log 2>&1
  echo "== rounds $rounds rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_rounds$rounds.log
done
