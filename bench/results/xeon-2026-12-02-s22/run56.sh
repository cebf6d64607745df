#!/bin/bash
# session 22, machine B: run54.sh's bench.serve again (the server and the peer on cores 0,1, the client processes
# on 2,3), for a second sample.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 300 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --client-cpus 2,3 --rounds 2 --json $OUT/serve_fp32_hf_lan_2.json > $OUT/serve_fp32_hf_lan_2.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) |^\{"batch' $OUT/serve_fp32_hf_lan_2.log
rm -f $OUT/*.png
