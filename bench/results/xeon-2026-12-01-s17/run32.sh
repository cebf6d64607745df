#!/bin/bash
# session 17: the Xeon host pinned to 2 cores: the C step's phases (step_phases.py, C step forced) with the cache
# by position (the tree at 06284cc, ../cpu-zen5-2026-12-01-s17/kv_by_position.patch) and by head (e86c238, carried
# in .whl/old), alternated, at 16 and 1 rows.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export CUDA_VISIBLE_DEVICES= CPU_MATMUL=kernel
S=$PWD/bench/results/xeon-2026-12-01-s15/step_phases.py
for rows in 16 1; do for i in 1 2 3; do for v in old new; do
  if [ $v = old ]; then P=/tmp/site:$PWD/.whl/old; else P=/tmp/site:$PWD; fi
  echo -n "$v "; PYTHONPATH=$P taskset -c 0,1 timeout 120 python3 $S float32 $rows 128 2>&1 | tail -1
done; done; done
echo "done at $SECONDS s"
