#!/bin/bash
# session 20, machine B pinned to 2 cores: model/cpu_panels.c as committed against shared_ahead.patch (from three
# groups of rows on, each group asks for its share of the next span's lines, so memory streams during every
# group's pass, not the first's only), GPT-2 124M's 49 products (panels_ab.c); then bench.decode with the patch.
D=bench/results/xeon-2026-12-01-s20; B=/tmp/pv
for v in old new; do mkdir -p $B/$v && cp model/cpu_kernel.c model/cpu_kernel.h model/cpu_step.c model/cpu_panels.c $B/$v/; done
patch -s $B/new/cpu_panels.c $D/shared_ahead.patch || exit 1
for v in old new; do (cd $B/$v && gcc -O3 -march=native -fopenmp -shared -fPIC cpu_kernel.c cpu_panels.c cpu_step.c -o lib.so -lm) || exit 1; done
gcc -O2 -fopenmp $D/panels_ab.c -o $B/panels_ab -ldl || exit 1
for round in 1 2; do for rows in 16 32 8 1; do taskset -c 0,1 $B/panels_ab $B/old/lib.so $B/new/lib.so $rows; done; done
cp $B/new/cpu_panels.c model/cpu_panels.c
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache taskset -c 0,1 timeout 230 python3 -m bench.decode \
  --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --json $OUT/decode_shared.json > $OUT/decode_shared.log 2>&1
echo "== bench.decode rc $? ($SECONDS s)"; grep -A4 "^batch" $OUT/decode_shared.log | grep -v greedy
grep -o "CPU products from panels.*" $OUT/decode_shared.log
