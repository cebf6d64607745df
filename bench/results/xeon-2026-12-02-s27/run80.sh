#!/bin/bash
# session 27, run 5 (B pinned to 2 cores; run 6 again after the argmax test gained a vocabulary of 50,290, whose last
# panel AMX stores through a buffer, and a check of the estimates): the panels' tests under pytest (faulthandler's signal stack installed
# before the tiles are asked for), the new one checking that AMX is ready there, so the heads are checked by tiles.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache80
python3 --version
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py 2>&1 | tail -4 | tee $OUT/tests.txt
