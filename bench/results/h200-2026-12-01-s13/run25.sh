#!/bin/bash
# session 13, run 6: one stream only, 4 rounds (4 requests) a run: the Triton tree three times, 62a9aca once
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
run() {  # name, tree
  local name=$1 tree=$2
  (cd $tree && PYTHONPATH=/tmp/site:$tree python3 -m bench.serve --device cuda --no-peer --no-model-only --rounds 4 \
     --concurrency 1 --json $OUT/$name.json --plot /dev/null > /tmp/$name.log 2>&1)
  echo "== $name $(date +%T) $(grep 'server warm' /tmp/$name.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$name.log
}
run one_new_a $NEW; run one_old_a $OLD; run one_new_b $NEW; run one_new_c $NEW
