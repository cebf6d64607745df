#!/bin/bash
# session 31, run 5 (B pinned to 2 cores), after the layer norm's sums went into lanes: the C step's, panels',
# kernel's and Decoder's tests (AVX-512, AMX).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache100
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py \
  tests/model/test_cpu_step.py tests/model/test_cpu_kernel.py tests/model/test_generate.py 2>&1 | tail -3 | tee $OUT/tests_run100.txt
