#!/bin/bash
# session 22, machine B pinned to 2 cores: prefill's products three ways (prefill_paths.py), then run53.sh's
# bench.serve with the client processes on two other cores (--client-cpus 2,3), the server and the peer on 0,1.
D=bench/results/xeon-2026-12-02-s22
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/prefill_paths.py > $OUT/prefill_paths.txt 2>&1
echo "== prefill_paths rc $? ($SECONDS s)"; cat $OUT/prefill_paths.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 400 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --client-cpus 2,3 --rounds 2 --json $OUT/serve_fp32_hf_lan.json > $OUT/serve_fp32_hf_lan.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) |^\{"batch' $OUT/serve_fp32_hf_lan.log
rm -f $OUT/*.png
