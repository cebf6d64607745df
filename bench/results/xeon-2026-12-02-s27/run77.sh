#!/bin/bash
# session 27, run 2 (B pinned to 2 cores): the head per row count timed at load three ways (AMX tiles, vdpbf16ps,
# fp32); the panels' and C step's tests, each estimating head's argmax checked; bench.serve greedy against
# transformers' generate, one stream and 16, 2 rounds, 3 alternated repeats (as run71 and run74 of session 26).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache77
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -2
echo "== ($SECONDS s)"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 - <<'PY' 2>&1 | grep -E "model.cpu_step|per bucket" | cut -c1-700 | tee $OUT/choice.txt
import logging, torch
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from bench.decode import build_models
from model.generate import Decoder
lm, _ = build_models("124M", torch.device("cpu"), torch.float32, panels=True)
print("argmax head per bucket (1, 2, 4, 8, 16, 32):", Decoder(lm, max_batch=16, max_len=1024).fused.argmax_head)
PY
echo "== bench.serve greedy ($SECONDS s)"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 420 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_greedy_b77.json --plot /dev/null > $OUT/serve_greedy_b77.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -6 $OUT/serve_greedy_b77.log
