#!/bin/bash
# session 23, machine B pinned to 2 cores: bench.serve against transformers at 1 and 16 streams with the client on the
# server's cores, then at 16 with the client processes on cores 2,3 (as a client across a LAN), at 88c6660.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --json $OUT/serve_fp32_hf.json > $OUT/serve_fp32_hf.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) |^\{"batch' $OUT/serve_fp32_hf.log
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout $((585 - SECONDS)) python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --client-cpus 2,3 --rounds 2 --json $OUT/serve_fp32_hf_lan.json > $OUT/serve_fp32_hf_lan.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) |^\{"batch' $OUT/serve_fp32_hf_lan.log
rm -f $OUT/*.png
