#!/bin/bash
# session 26, run 5 (B pinned to 2 cores): the head's product by each path (head_paths.py), for what could serve
# B's 16-row argmax steps.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
for i in 1 2; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/xeon-2026-12-02-s26/head_paths.py 2>&1 | grep -v Warn
done | tee $OUT/head_paths.txt
echo "== ($SECONDS s)"
