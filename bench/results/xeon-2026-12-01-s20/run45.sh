#!/bin/bash
# session 20, machine B pinned to 2 cores, fp32 weights in panels (model/panels.py), chosen by their timing at the
# first load: (1) against transformers, model only, batch 1 and 16 (as session 17's run33.sh); (2) 16 streams
# through HTTP against llama-server --parallel 16 f32 (its KV cache f16, its default).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export XDG_CACHE_HOME=/tmp/cache
PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES= taskset -c 0,1 timeout 230 python3 -m bench.decode --device cpu \
  --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --json $OUT/decode_panels.json > $OUT/decode_panels.log 2>&1
echo "== bench.decode rc $? ($SECONDS s)"; grep -A4 "^batch" $OUT/decode_panels.log | grep -v greedy
grep -o "CPU products from panels.*" $OUT/decode_panels.log
. bench/results/xeon-2026-12-01-s19/setup.sh
serve serve_panels --rounds 2
rm -f $OUT/*.png
