#!/bin/bash
# session 12, run 4: TTFT at 32 streams, Polled (new) against d1a2ca8 (old), alternated three times
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
run() {  # name, tree
  (cd $2 && PYTHONPATH=/tmp/site:$2 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --concurrency 32,256 --rounds 3 --json $OUT/$1.json --plot /dev/null > /tmp/$1.log 2>&1)
  echo "== $1 $(date +%T)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log
}
for r in 1 2 3; do run ttft_overlap_r$r $OLD; run ttft_polled_r$r $NEW; done
