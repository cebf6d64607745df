#!/bin/bash
# session 24, machine B pinned to 2 cores: 16 streams in steady state, six requests a stream (96 in all) instead of
# bench.serve's default two, so that the ramp-down at the end (streams finishing one chunk of prefill apart, the
# batch emptying) weighs less; the sides alternated three times as in run61.sh.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 560 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 6 --repeats 3 --json $OUT/serve_fp32_hf_c16_r6.json > $OUT/serve_fp32_hf_c16_r6.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -5 $OUT/serve_fp32_hf_c16_r6.log
rm -f $OUT/*.png
