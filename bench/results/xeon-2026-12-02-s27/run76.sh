#!/bin/bash
# session 27, run 1 (B, the H200 host pinned to 2 cores): the argmax head's estimates by AMX tiles. The CPU's AMX
# flags and the compiler; the panels' and the C step's tests (their argmax cases take AMX where it is ready); the
# greedy step by AMX, vdpbf16ps and the fp32 head, alternated, and the argmax's bits against the fp32 head's.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache76
grep -o -w -E "amx_[a-z0-9]+|avx512_bf16" /proc/cpuinfo | sort | uniq -c; cc --version | head -1; lscpu | grep -E "Model name|Thread|Core"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -3
echo "== ($SECONDS s)"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/xeon-2026-12-02-s27/amx_head.py 2>&1 | grep -v Warn | tee $OUT/amx_head.txt
echo "== ($SECONDS s)"
