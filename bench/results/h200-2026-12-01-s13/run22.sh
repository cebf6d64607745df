#!/bin/bash
# session 13, run 3: CUDA tests; HTTP A/B of the Triton batch-1 step (new) against 62a9aca (old), alternated;
# then bench.fused_step with the shipped tiles
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
echo "== CUDA tests"
PYTHONPATH=/tmp/site:$NEW python3 -m pytest -q -p no:cacheprovider tests/model/test_generate_overlap.py \
  tests/model/test_cuda_step.py tests/model/test_generate.py tests/engine/test_engine.py 2>&1 | grep -E "^E |passed|failed" | head -20
run() {  # name, tree
  local name=$1 tree=$2
  (cd $tree && PYTHONPATH=/tmp/site:$tree python3 -m bench.serve --device cuda --no-peer --no-model-only --rounds 2 \
     --concurrency 1,32,128,256 --json $OUT/$name.json --plot $OUT/$name.png > /tmp/$name.log 2>&1)
  echo "== $name $(date +%T) $(grep 'server warm' /tmp/$name.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$name.log; grep "/health" /tmp/$name.log
}
run new_r1 $NEW; run old_r1 $OLD; run new_r2 $NEW; run old_r2 $OLD
echo "== fused_step $(date +%T)"
PYTHONPATH=/tmp/site:$NEW timeout 120 python3 -m bench.fused_step --max-fused 16 --json $OUT/fused_step.json 2>&1 | grep -E "^\{|^\[|bundled|random|_fused_linear|_decode_attention"
