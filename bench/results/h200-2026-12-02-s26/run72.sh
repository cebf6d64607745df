#!/bin/bash
# session 26, run 2 (the H200): the sampler's tests on cuda (the NaN row's case had not run on a GPU); bench.serve on
# cuda through HTTP, sampled (temperature 1, top_p 0.95: the exponential race and the sort since session 25) and
# greedy, at 1, 32 and 128 streams, no peer.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
nvidia-smi --query-gpu=name --format=csv,noheader
PYTHONPATH=/tmp/site:$PWD python3 -m pytest -q -p no:cacheprovider tests/model/test_sampling.py -k cuda 2>&1 | tail -3
for t in 1 0; do
  PYTHONPATH=/tmp/site:$PWD timeout 200 python3 -m bench.serve --device cuda --no-peer --no-model-only --rounds 2 \
    --repeats 1 --temperature $t --top-p 0.95 --concurrency 1,32,128 --json $OUT/serve_cuda_t$t.json --plot /dev/null \
    > $OUT/serve_cuda_t$t.log 2>&1
  echo "== temperature $t: rc $? ($SECONDS s)"; grep -E "^ +[0-9]+ +[0-9.]+ " $OUT/serve_cuda_t$t.log
done
