#!/bin/bash
# session 22, machine B pinned to 2 cores: variants of model/cpu_panels.c's prefetching and blocking (sweep.sh),
# then fp32 through HTTP, 1 and 16 streams, against transformers' generate in process (run52.sh again, the model-only
# column now from panels as the server holds it, three alternated in-process repeats).
D=bench/results/xeon-2026-12-02-s22
bash $D/sweep.sh /tmp/sw 16 1 32 8 > $OUT/sweep.txt 2>&1; echo "== sweep rc $? ($SECONDS s)"; cat $OUT/sweep.txt
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 400 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --json $OUT/serve_fp32_hf.json > $OUT/serve_fp32_hf.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) |^\{"batch' $OUT/serve_fp32_hf.log
rm -f $OUT/*.png
