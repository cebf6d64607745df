#!/bin/bash
# session 18 (main at c8dbdda): the Xeon host pinned to 2 cores: ours (this tree, the path choices timed at the first load) against
# transformers, fp32, batch 1 and 16, model only, the sides alternated by bench.decode.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
lscpu | grep -E "^Model name|^CPU\(s\)"
taskset -c 0,1 timeout 230 python3 -m bench.decode --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 \
  --repeats 3 --json $OUT/xeon_decode_fp32.json > $OUT/xeon_decode_fp32.log 2>&1
echo "== bench.decode rc $? ($SECONDS s)"; grep -A4 "^batch" $OUT/xeon_decode_fp32.log | grep -v greedy
