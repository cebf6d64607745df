#!/bin/bash
# session 25, run 2: (GPU) a seeded row on cuda alone and among companions; sample()'s time on the GPU, this tree
# (new) against 0cccc95's model/sampling.py (old), alternated; (B: the host pinned to 2 cores, no GPU) the
# Decoder's sampled step new against old at 16 rows and one; bench.serve sampled (temperature 1, top_p 0.95)
# against transformers' generate sampling alike, one stream and 16.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=/tmp/old; D=bench/results/h200-2026-12-02-s25
rm -rf $OLD; mkdir -p $OLD && tar -c --exclude=./.whl . | tar -x -C $OLD && cp .whl/old_sampling.py $OLD/model/sampling.py
echo "== a seeded row on cuda, alone and among companions"
PYTHONPATH=/tmp/site:$NEW:$NEW/tests:$NEW/tests/model python3 - <<'PY'
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
echo "== sample() on the GPU, ms a call"
for r in 1 2 3; do for t in new old; do tree=$NEW; [ $t = old ] && tree=$OLD
  PYTHONPATH=/tmp/site:$tree python3 $D/sampler_gpu.py $t; done; done 2>&1 | tee $OUT/sampler_gpu.txt
export CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
echo "== B: the Decoder's sampled step, ms (16 rows, then one)"
for rows in 16 1; do for r in 1 2; do for t in new old; do tree=$NEW; [ $t = old ] && tree=$OLD
  PYTHONPATH=/tmp/site:$tree taskset -c 0,1 python3 bench/results/cpu-zen5-2026-12-02-s24/samplestep.py "$t rows=$rows" $rows; done; done; done 2>&1 \
  | grep -v Warn | tee $OUT/samplestep_b.txt
echo "== B: bench.serve sampled ($(date +%T))"
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 1,16 \
  --client-procs 2 --rounds 2 --repeats 3 --temperature 1 --top-p 0.95 --json $OUT/serve_sampled_b.json \
  --plot /dev/null > $OUT/serve_sampled_b.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -8 $OUT/serve_sampled_b.log
