#!/bin/bash
# session 11, run 2: the client's start barrier A/B (same server, HEAD); py-spy at 256; CPU old/new on 2 host cores
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old; NOBAR=$PWD/.whl/nobar
run() {  # name, tree, extra args
  (cd $2 && PYTHONPATH=/tmp/site:$2 $PIN python3 -m bench.serve --no-peer --no-model-only --rounds 2 --json $OUT/$1.json --plot /dev/null ${@:3} > /tmp/$1.log 2>&1)
  echo "== $1 $(grep 'server warm' /tmp/$1.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$1.log; grep "/health" /tmp/$1.log; grep -i -E "error|Traceback" /tmp/$1.log | head -3
}
G="--device cuda --concurrency 1,32,128,256"
for r in 1 2; do run nobar_r$r $NOBAR $G; run bar_r$r $NEW $G; done
echo "== py-spy at 256 streams, HEAD"
mkdir -p /tmp/ck; PYTHONPATH=/tmp/site:$NEW python3 - <<'PY'
from types import SimpleNamespace
from bench.decode import write_checkpoint, SIZES, N_VOCAB
from model.gpt import GPT, GPTConfig
m = GPT(GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES['124M'])); m.init_weights(seed=0)
write_checkpoint(SimpleNamespace(config=m.config, model=m), '/tmp/ck/gpt2-124m-random.pt')
PY
ls -la /tmp/ck
PYTHONPATH=/tmp/site:$NEW HOST=127.0.0.1 PORT=5077 MODEL_DIR=/tmp/ck MODEL_CHECKPOINT=/tmp/ck/gpt2-124m-random.pt MY_API_KEY=k \
  DEVICE=cuda MAX_BATCH=256 MAX_QUEUE=1024 GUNICORN_ACCESSLOG=/dev/null LOG_LEVEL=warning \
  python3 -c "from gunicorn.app.wsgiapp import run; run()" -c gunicorn_config.py web.app:app > /tmp/gsrv.log 2>&1 &
M=$!
for i in $(seq 60); do curl -s -o /dev/null localhost:5077/health && break; sleep 1; done
PYTHONPATH=/tmp/site:$NEW python3 -m bench.serve --device cuda --url http://127.0.0.1:5077 --no-peer --no-model-only --concurrency 256 --rounds 2 --json /tmp/warm.json --plot /dev/null > /tmp/warm.log 2>&1
tail -3 /tmp/warm.log
ps -eo pid,ppid,args | grep -E "gunicorn|engine" | grep -v grep | cut -c1-160
W=$(pgrep -P $M | head -1); E=$(pgrep -P $W | head -1); echo "master $M worker $W engine $E"
PYTHONPATH=/tmp/site:$NEW python3 -m bench.serve --device cuda --url http://127.0.0.1:5077 --no-peer --no-model-only --concurrency 256 --rounds 30 --json $OUT/pyspy_load.json --plot /dev/null > /tmp/load.log 2>&1 &
L=$!
sleep 12
py-spy record -p $W -d 6 -r 200 -f raw -o $OUT/pyspy_worker.txt > /tmp/ps1.log 2>&1 & P1=$!
py-spy record -p $W -d 6 -r 200 --gil -f raw -o $OUT/pyspy_worker_gil.txt > /tmp/ps2.log 2>&1 & P2=$!
py-spy record -p $E -d 6 -r 200 -f raw -o $OUT/pyspy_engine.txt > /tmp/ps3.log 2>&1 & P3=$!
sleep 2; top -b -n 1 | head -20 > $OUT/top_256.txt
wait $P1 $P2 $P3 $L
tail -2 /tmp/ps1.log /tmp/ps3.log; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/load.log
kill $M; sleep 3; gzip $OUT/pyspy_*.txt
echo "== CPU, 2 host cores: old (per-token ITL observe) against new"
export CUDA_VISIBLE_DEVICES= PIN="taskset -c 0,1"
C="--device cpu --concurrency 1,16 --output-len 64 --client-procs 1"
for r in 1 2; do run cpu_old_r$r $OLD $C; run cpu_new_r$r $NEW $C; done
ls -la $OUT
