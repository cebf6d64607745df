#!/bin/bash
# session 15: the Xeon host pinned to 2 cores. Where a C decode step's time goes (fp32, bf16; 1 and 16 rows, the
# context growing from 128 as in bench.serve), ours against transformers at batch 1 and 16, and the step of the
# session's start tree (.whl/base.tgz: git archive of 4f83b4f's model/ and bench.decode) against this one.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
D=bench/results/xeon-2026-12-01-s15
lscpu | grep -E "^Model name|^CPU\(s\)|MHz"
for dt in float32 bfloat16; do for r in 1 16; do taskset -c 0,1 python3 $D/step_phases.py $dt $r 2>&1 | tail -1; done; done
mkdir -p /tmp/base && tar xzf .whl/base.tgz -C /tmp/base && ln -s $PWD/model/assets /tmp/base/model/assets
S=bench/results/cpu-zen5-2026-12-01/step_ab.py
for i in 1 2 3; do
  echo "base $(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base taskset -c 0,1 python3 $S float32 2>&1 | tail -1)"
  echo "this $(PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $S float32 2>&1 | tail -1)"
done
taskset -c 0,1 timeout 240 python3 -m bench.decode --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 \
  --repeats 2 --json $OUT/xeon_decode_fp32.json > $OUT/xeon_decode_fp32.log 2>&1
echo "== bench.decode rc $? ($SECONDS s)"; grep -B2 -A4 "^batch" $OUT/xeon_decode_fp32.log | grep -v greedy
