#!/bin/bash
# session 28, run 4 (B pinned to 2 cores): the panels' tests after the AVX2-against-AVX-512 test builds its AVX2
# kernel through the project's own build (CC a wrapper adding -mno-avx512f) instead of its own compiler command.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache86
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py 2>&1 | tail -3 | tee $OUT/tests_run86.txt
