#!/bin/bash
# session 26, run 3 (B pinned to 2 cores): why run71's 16-row step gained nothing from the argmax head: the head's
# products alone (head_products.py), then the step A/B again with the kernel built as usual (bf16 pairs by
# vdpbf16ps) and built without AVX512-BF16 (bf16 weights widened to fp32 in registers).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES=
D=bench/results/xeon-2026-12-02-s26
printf '#!/bin/sh\nexec cc "$@" -mno-avx512bf16\n' > /tmp/ccwide && chmod +x /tmp/ccwide
echo "== head products"
XDG_CACHE_HOME=/tmp/cache PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/head_products.py 2>&1 | tee $OUT/head_products.txt
for i in 1 2; do
  echo "== steps, pairs ($SECONDS s)"
  XDG_CACHE_HOME=/tmp/cache PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/argmax_head_ab.py 2>&1 | grep rows
  echo "== steps, widened ($SECONDS s)"
  CC=/tmp/ccwide XDG_CACHE_HOME=/tmp/cache_wide PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/argmax_head_ab.py 2>&1 | grep rows
done | tee $OUT/argmax_head_ab_kinds.txt
echo "== ($SECONDS s)"
