#!/bin/bash
# session 24, machine B pinned to 2 cores: bench.serve at HEAD (the /health probe at 2 Hz), the sides alternated
# five times at 1 and 16 streams (ours through HTTP, transformers and our Decoder in process), client on the same cores.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 570 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --repeats 5 --json $OUT/serve_fp32_hf_x5_a.json > $OUT/serve_fp32_hf_x5_a.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -6 $OUT/serve_fp32_hf_x5_a.log
rm -f $OUT/*.png
