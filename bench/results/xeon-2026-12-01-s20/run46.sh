#!/bin/bash
# session 20, machine B pinned to 2 cores: run45.sh's bench.decode twice more (fp32 in panels against transformers,
# model only, batch 1 and 16), on the tree as committed.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export XDG_CACHE_HOME=/tmp/cache
for i in 2 3; do
  PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES= taskset -c 0,1 timeout 230 python3 -m bench.decode --device cpu \
    --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --json $OUT/decode_panels_$i.json > $OUT/decode_panels_$i.log 2>&1
  echo "== bench.decode $i rc $? ($SECONDS s)"; grep -A4 "^batch" $OUT/decode_panels_$i.log | grep -v greedy
done
