#!/bin/bash
# session 13, run 2: the Triton step with whole rows of w a program: a sweep of tiles and warps, kernel times,
# replay per batch against PyTorch's graphs, greedy tokens; then the CUDA tests
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD
python3 -m bench.fused_step --max-fused 32 --json $OUT/fused_step.json 2>&1 | grep -v Warning | tail -60
echo "== CUDA tests"
python3 -m pytest -q -p no:cacheprovider tests/model/test_generate_overlap.py tests/model/test_cuda_step.py 2>&1 | grep -E "^E |passed|failed|Error" | head -30
