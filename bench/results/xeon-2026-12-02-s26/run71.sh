#!/bin/bash
# session 26, run 1 (B: the H200 machine's host, pinned to 2 cores): greedy decode steps with the head's bf16 copy
# for the argmax against the fp32 head, alternated (argmax_head_ab.py); bench.serve greedy against transformers'
# generate, one stream and 16 (128 tokens in and out, 2 rounds, 3 alternated repeats).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
D=bench/results/xeon-2026-12-02-s26
lscpu | grep -E "Model name"
echo "== steps ($(date +%T))"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 $D/argmax_head_ab.py 2>&1 | grep -v Warning | tee $OUT/argmax_head_ab.txt
echo "== bench.serve greedy ($(date +%T), $SECONDS s)"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 420 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_greedy_b.json --plot /dev/null > $OUT/serve_greedy_b.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -8 $OUT/serve_greedy_b.log
