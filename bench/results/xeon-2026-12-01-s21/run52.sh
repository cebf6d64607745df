#!/bin/bash
# session 21, machine B pinned to 2 cores, the tree of 2343db5: fp32 through HTTP, 1 and 16 streams, against
# transformers' generate in process (bench.serve's default peer), with our Decoder in process beside it.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 280 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --json $OUT/serve_fp32_hf.json > $OUT/serve_fp32_hf.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +(1|16) ' $OUT/serve_fp32_hf.log
rm -f $OUT/*.png
