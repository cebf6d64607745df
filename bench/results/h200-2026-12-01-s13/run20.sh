#!/bin/bash
# session 13, run 1: the Triton decode step against PyTorch's (bench.fused_step), the CUDA tests, one stream via HTTP
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)"
python3 -m bench.fused_step --json $OUT/fused_step.json 2>&1 | tail -40
echo "== CUDA tests"
python3 -m pytest -q -x -p no:cacheprovider tests/model/test_generate_overlap.py tests/model/test_generate.py tests/engine/test_engine.py tests/model/test_cuda_step.py 2>&1 | tail -5
echo "== one stream via HTTP, new then old"
for t in new old; do
  tree=$PWD; [ $t = old ] && tree=$PWD/.whl/old
  (cd $tree && PYTHONPATH=/tmp/site:$tree python3 -m bench.serve --device cuda --no-peer --no-model-only --rounds 2 \
     --concurrency 1,32 --json $OUT/serve_$t.json --plot /dev/null > /tmp/s_$t.log 2>&1)
  echo "== $t"; grep -E "server warm|^ +[0-9]+ +[0-9.]+ " /tmp/s_$t.log
done
