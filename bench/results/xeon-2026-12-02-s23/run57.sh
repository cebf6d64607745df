#!/bin/bash
# session 23, machine B pinned to 2 cores: prefill's products three ways at 88c6660, with panels now multiplied in
# blocks of 256 rows (session 22's prefill_paths.py), then the KV cache's prefetch hint in attention (attention_hint.sh).
D=bench/results/xeon-2026-12-02-s23
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache PYTHONPATH=/tmp/site
lscpu | grep -E 'Model name|^CPU\(s\)'
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/xeon-2026-12-02-s22/prefill_paths.py > $OUT/prefill_paths.txt 2>&1
echo "== prefill_paths rc $? ($SECONDS s)"; cat $OUT/prefill_paths.txt
taskset -c 0,1 timeout 420 bash $D/attention_hint.sh /tmp/att 2>&1 | tee $OUT/attention_hint.txt
echo "== attention_hint ($SECONDS s)"
