#!/bin/bash
# session 25, run 1 (the H200): the sampler of 7ea3041..5819924 on a GPU. The sampling tests on cuda, the other
# CUDA tests, a seeded row's tokens against its companions on cuda; then sampled streams through HTTP
# (temperature 1, top_p 0.95), this tree (new) against it with 0cccc95's model/sampling.py (old), alternated.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=/tmp/old
mkdir -p $OLD && tar -c --exclude=./.whl . | tar -x -C $OLD && cp .whl/old_sampling.py $OLD/model/sampling.py
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; python3 -c "import torch; print(torch.__version__)"
echo "== CUDA tests"
PYTHONPATH=/tmp/site:$NEW python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_sampling.py \
  tests/model/test_generate_overlap.py tests/model/test_cuda_step.py tests/model/test_cuda_graphs.py \
  tests/model/test_generate.py tests/engine/test_engine.py 2>&1 | grep -E "^E |passed|failed|SKIP" | head -30
echo "== a seeded row on cuda, alone and among companions"
PYTHONPATH=/tmp/site:$NEW:$NEW/tests python3 - <<'PY'
import torch
from checkpoints import tiny_model
from test_generate import PROMPTS, TOK
from model.checkpoint import Checkpoint
from model.generate import generate
from model.loader import LoadedModel
from model.sampling import SamplingParams
m = tiny_model(seed=5, bias=True, block_size=128).to("cuda")
lm = LoadedModel(m, TOK, Checkpoint("tiny", "test", m.config, {}, TOK), torch.device("cuda"), torch.float32)
p = SamplingParams(max_tokens=30, temperature=1.0, top_p=0.9, seed=1234)
alone = generate(lm, [PROMPTS[0]], p)[0].tokens
others = [SamplingParams(max_tokens=30, temperature=1.3), SamplingParams(max_tokens=5, top_p=0.5, seed=1),
          SamplingParams(max_tokens=30, temperature=0)]
crowd = generate(lm, PROMPTS[:4], [p, *others], max_batch=4)[0].tokens
again = generate(lm, [PROMPTS[0]], p)[0].tokens
print("alone == among companions:", alone == crowd, "; run again equal:", alone == again, "; tokens", alone[:10])
PY
run() {  # name, tree
  local name=$1 tree=$2
  (cd $tree && PYTHONPATH=/tmp/site:$tree timeout 200 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --rounds 2 --repeats 1 --temperature 1 --top-p 0.95 --concurrency 1,32,128 --json $OUT/$name.json \
     --plot /dev/null > $OUT/$name.log 2>&1)
  echo "== $name $(date +%T)"; grep -E "^ +[0-9]+ +[0-9.]+ " $OUT/$name.log
}
run new_a $NEW; run old_a $OLD; run old_b $OLD; run new_b $NEW
echo "== done ($SECONDS s)"
