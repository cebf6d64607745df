#!/bin/bash
# session 25, run 3: (GPU) sample()'s time: this tree (sort: the whole vocabulary sorted rather than topk'd) against
# HEAD's model/sampling.py (topk), alternated; (B, 2 pinned cores) bench.serve sampled (temperature 1, top_p 0.95)
# against transformers' generate sampling alike, one stream and 16.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=/tmp/head; D=bench/results/h200-2026-12-02-s25
rm -rf $OLD; mkdir -p $OLD && tar -c --exclude=./.whl --exclude=./bench/results . | tar -x -C $OLD && cp .whl/head_sampling.py $OLD/model/sampling.py
echo "== sample() on the GPU, ms a call"
for r in 1 2 3; do for t in sort topk; do tree=$NEW; [ $t = topk ] && tree=$OLD
  PYTHONPATH=/tmp/site:$tree python3 $D/sampler_gpu.py $t; done; done 2>&1 | tee $OUT/sampler_gpu_sort.txt
export CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
echo "== B: bench.serve sampled ($(date +%T))"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 420 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --repeats 3 --temperature 1 --top-p 0.95 --json $OUT/serve_sampled_b.json \
  --plot /dev/null > $OUT/serve_sampled_b.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -8 $OUT/serve_sampled_b.log
