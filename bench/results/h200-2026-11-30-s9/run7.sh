#!/bin/bash
# session 9, run 1: greedy tokens at batch 1 (dc77579 eager vs HEAD graphs), then WEB_CONCURRENCY=2 vs 1 A/B
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
MAIN=$PWD; ROOT=$PWD/.whl/head   # a snapshot of HEAD (git archive), so edits in the working tree do not leak in
OLD=$PWD/.whl/issue   # dc77579, the tree the issue was measured on
nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep -E "Model name|^CPU\(s\)"
echo "== Xeon, 2 cores: the fused CPU step (working tree) against PyTorch's step, alternated"
CUDA_VISIBLE_DEVICES= PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 150 python3 .whl/stepbench.py 1,4,16 2>&1 | grep -v Warn | tee $OUT/xeon_step.txt
cd $ROOT
PYTHONPATH=/tmp/site:$ROOT python3 -c "
from types import SimpleNamespace
from bench.decode import write_checkpoint, SIZES, N_VOCAB
from model.gpt import GPT, GPTConfig
m = GPT(GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES['124M'])); m.init_weights(seed=0)
write_checkpoint(SimpleNamespace(config=m.config, model=m), '/tmp/r124.pt')"
CK="$MAIN/model/assets/bundled/shakespeare-12m.pt /tmp/r124.pt"
(cd $OLD && PYTHONPATH=/tmp/site:$OLD timeout 200 python3 $ROOT/greedy_probe.py $OUT/greedy.jsonl dc77579 $CK) 2>&1 | grep -v Warn | tail -n 12
PYTHONPATH=/tmp/site:$ROOT timeout 200 python3 $ROOT/greedy_probe.py $OUT/greedy.jsonl head $CK 2>&1 | grep -v Warn | tail -n 12
run() {  # name, WEB_CONCURRENCY
  PYTHONPATH=/tmp/site:$ROOT ENGINE_PROCESS=1 WEB_CONCURRENCY=$2 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --concurrency 1,32,128,256 --rounds 2 --json $OUT/$1.json --plot /dev/null > /tmp/$1.log 2>&1
  echo "== $1 $(grep 'server warm' /tmp/$1.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log; grep "/health" /tmp/$1.log
}
run wc2_r1 2
run wc1_r1 1
run wc2_r2 2
run wc1_r2 1
