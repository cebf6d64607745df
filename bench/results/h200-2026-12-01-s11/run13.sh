#!/bin/bash
# session 11, run 1: ITL flushed per request (new) against per-token observe (old), alternated; then py-spy at 256
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep -E "Model name|^CPU\(s\)"
run() {  # name, tree
  (cd $2 && PYTHONPATH=/tmp/site:$2 python3 -m bench.serve --device cuda --no-peer --no-model-only \
     --concurrency 1,32,128,256 --rounds 2 --json $OUT/$1.json --plot /dev/null > /tmp/$1.log 2>&1)
  echo "== $1 $(grep 'server warm' /tmp/$1.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log; grep "/health" /tmp/$1.log
}
for r in 1 2 3; do run old_r$r $OLD; run new_r$r $NEW; done
echo "== py-spy at 256 streams, new tree"
cd $NEW
mkdir -p /tmp/ck; PYTHONPATH=/tmp/site:$NEW python3 - <<'PY'
from types import SimpleNamespace
from bench.decode import write_checkpoint, SIZES, N_VOCAB
from model.gpt import GPT, GPTConfig
m = GPT(GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES['124M'])); m.init_weights(seed=0)
write_checkpoint(SimpleNamespace(config=m.config, model=m), '/tmp/ck/gpt2-124m-random.pt')
PY
PYTHONPATH=/tmp/site:$NEW HOST=127.0.0.1 PORT=5077 MODEL_DIR=/tmp/ck MODEL_CHECKPOINT=/tmp/ck/gpt2-124m-random.pt MY_API_KEY=k \
  DEVICE=cuda MAX_BATCH=256 MAX_QUEUE=1024 GUNICORN_ACCESSLOG=/dev/null LOG_LEVEL=warning \
  python3 -c "from gunicorn.app.wsgiapp import run; run()" -c gunicorn_config.py web.app:app > /tmp/gsrv.log 2>&1 &
M=$!
for i in $(seq 60); do curl -s -o /dev/null localhost:5077/health && break; sleep 1; done
W=$(pgrep -P $M | head -1)
PYTHONPATH=/tmp/site:$NEW python3 -m bench.serve --device cuda --url http://127.0.0.1:5077 --no-peer --no-model-only --concurrency 256 --rounds 2 --json /tmp/warm.json --plot /dev/null > /dev/null 2>&1
E=$(pgrep -f "engine.process" | head -1); echo "master $M worker $W engine $E"; ps -o pid,ppid,cmd -p $M,$W,$E | cut -c1-150
PYTHONPATH=/tmp/site:$NEW python3 -m bench.serve --device cuda --url http://127.0.0.1:5077 --no-peer --no-model-only --concurrency 256 --rounds 30 --json $OUT/pyspy_load.json --plot /dev/null > /tmp/load.log 2>&1 &
L=$!
sleep 12
py-spy record -p $W -d 6 -r 200 -f raw -o $OUT/pyspy_worker.txt > /dev/null 2>&1 & P1=$!
py-spy record -p $W -d 6 -r 200 --gil -f raw -o $OUT/pyspy_worker_gil.txt > /dev/null 2>&1 & P2=$!
py-spy record -p $E -d 6 -r 200 -f raw -o $OUT/pyspy_engine.txt > /dev/null 2>&1 & P3=$!
sleep 2; top -b -n 2 -d 2 | tail -30 > $OUT/top.txt
wait $P1 $P2 $P3 $L
grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/load.log
kill $M; sleep 3; gzip $OUT/pyspy_*.txt; ls -la $OUT
