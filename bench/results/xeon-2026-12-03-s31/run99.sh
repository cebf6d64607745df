#!/bin/bash
# session 31, run 4 (B pinned to 2 cores), the final tree: the tests; which prefills the C step takes here (the
# timing's log) and the prefill against transformers', bf16 and fp32, 128 tokens; 16 greedy fp32 streams against
# transformers' generate, 3 alternated repeats.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache99
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py \
  tests/model/test_cpu_step.py tests/model/test_generate.py tests/model/test_bf16.py 2>&1 | tail -3 | tee $OUT/tests_run99.txt
for d in bfloat16 float32; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m bench.decode --dtype $d --batch-sizes 1 --prompt-tokens 128 \
    --new-tokens 16 --repeats 2 2>&1 | grep -v "CPU products timed" | cut -c1-300
done 2>&1 | tee $OUT/prefill_run99.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run99.json --plot /dev/null > $OUT/serve_16_run99.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run99.log | cut -c1-400
