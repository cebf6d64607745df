#!/bin/bash
# session 22, machine B pinned to 2 cores: the 16-row step against the positions behind it (decode_context.py, fp32
# and bf16 KV cache), then bench.serve against transformers three times at one stream and once at 16, all on 0,1.
D=bench/results/xeon-2026-12-02-s22
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
for kv in auto bfloat16; do PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/decode_context.py $kv 2>&1 | grep ctx; done | tee $OUT/decode_context.txt
echo "== ($SECONDS s)"
for i in 1 2 3; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 150 python3 -m bench.serve --device cpu --concurrency 1 --rounds 4 \
    --client-procs 1 --json $OUT/serve_fp32_hf_c1_$i.json > $OUT/serve_fp32_hf_c1_$i.log 2>&1
  echo "== rc $? ($SECONDS s)"; grep -E '^ +1 ' $OUT/serve_fp32_hf_c1_$i.log
done
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --json $OUT/serve_fp32_hf_c16.json > $OUT/serve_fp32_hf_c16.log 2>&1
echo "== rc $? ($SECONDS s)"; grep -E '^ +16 ' $OUT/serve_fp32_hf_c16.log
rm -f $OUT/*.png
