#!/bin/bash
# session 12, run 1: overlapped decode steps (new) against 15dff20 (old) on CUDA: the overlap tests on the GPU,
# then bench.serve alternated old/new twice
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep -E "Model name|^CPU\(s\)"
PYTHONPATH=/tmp/site:$NEW timeout 240 python3 -m pytest -q -p no:cacheprovider tests/model/test_generate_overlap.py \
  tests/model/test_generate.py tests/engine/test_engine.py 2>&1 | tail -4
run() {  # name, tree
  (cd $2 && PYTHONPATH=/tmp/site:$2 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --concurrency 1,32,128,256 --rounds 2 --json $OUT/$1.json --plot /dev/null > /tmp/$1.log 2>&1)
  echo "== $1 $(date +%T) $(grep 'server warm' /tmp/$1.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log; grep "/health" /tmp/$1.log
}
for r in 1 2; do run new_r$r $NEW; run old_r$r $OLD; done
