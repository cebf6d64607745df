#!/bin/bash
# session 12, run 3: the engine process's mailboxes wake nobody (new: d1a2ca8 with polled.diff applied) against d1a2ca8 (old:
# overlap alone), bench.serve alternated twice
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
lscpu | grep -E "Model name|^CPU\(s\)"
run() {  # name, tree
  (cd $2 && PYTHONPATH=/tmp/site:$2 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --concurrency 1,32,128,256 --rounds 2 --json $OUT/$1.json --plot $OUT/$1.png > /tmp/$1.log 2>&1)
  echo "== $1 $(date +%T) $(grep 'server warm' /tmp/$1.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log; grep "/health" /tmp/$1.log
}
for r in 1 2; do run polled_r$r $NEW; run overlap_r$r $OLD; done
rm -f $OUT/overlap_r*.png $OUT/polled_r1.png
