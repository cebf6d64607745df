#!/bin/bash
# session 9, run 3: CPU serving through HTTP on the Xeon host (2 cores): main before the C step against now
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES=
MAIN=$PWD
run() {  # name, tree
  (cd $2 && PYTHONPATH=/tmp/site:$2 taskset -c 0,1 python3 -m bench.serve --device cpu --no-peer --no-model-only --client-procs 2 \
     --concurrency 1,16 --rounds 2 --json $OUT/$1.json --plot /dev/null > /tmp/$1.log 2>&1)
  echo "== $1"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log
}
run xeon_http_before_r1 $MAIN/.whl/head
run xeon_http_after_r1 $MAIN
run xeon_http_before_r2 $MAIN/.whl/head
run xeon_http_after_r2 $MAIN
