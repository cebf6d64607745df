#!/bin/bash
# session 12, run 2: a third GPU alternation, CPU serving old/new on 2 host cores, then py-spy of new at 256 streams
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
NEW=$PWD; OLD=$PWD/.whl/old
lscpu | grep -E "Model name|^CPU\(s\)"
run() {  # name, tree, bench.serve arguments
  local name=$1 tree=$2; shift 2
  (cd $tree && PYTHONPATH=/tmp/site:$tree $PIN python3 -m bench.serve --no-peer --no-model-only --rounds 2 "$@" \
     --json $OUT/$name.json --plot /dev/null > /tmp/$name.log 2>&1)
  echo "== $name $(date +%T) $(grep 'server warm' /tmp/$name.log)"; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/$name.log; grep "/health" /tmp/$name.log
}
G="--device cuda --concurrency 1,32,128,256"
run old_r3 $OLD $G; run new_r3 $NEW $G
echo "== CPU, 2 host cores"
C="--device cpu --concurrency 1,16 --output-len 64 --client-procs 1"
for r in 1 2; do CUDA_VISIBLE_DEVICES= PIN="taskset -c 0,1" run cpu_new_r$r $NEW $C; CUDA_VISIBLE_DEVICES= PIN="taskset -c 0,1" run cpu_old_r$r $OLD $C; done
echo "== py-spy at 256 streams, new"
export PYTHONPATH=/tmp/site:$NEW
mkdir -p /tmp/ck; python3 - <<'PY'
from types import SimpleNamespace
from bench.decode import write_checkpoint, SIZES, N_VOCAB
from model.gpt import GPT, GPTConfig
m = GPT(GPTConfig(vocab_size=N_VOCAB, block_size=1024, **SIZES['124M'])); m.init_weights(seed=0)
write_checkpoint(SimpleNamespace(config=m.config, model=m), '/tmp/ck/gpt2-124m-random.pt')
PY
HOST=127.0.0.1 PORT=5077 MODEL_DIR=/tmp/ck MODEL_CHECKPOINT=/tmp/ck/gpt2-124m-random.pt MY_API_KEY=bench-key \
  DEVICE=cuda MAX_BATCH=256 MAX_QUEUE=1024 GUNICORN_ACCESSLOG=/dev/null LOG_LEVEL=warning \
  python3 -c "from gunicorn.app.wsgiapp import run; run()" -c gunicorn_config.py web.app:app > /tmp/gsrv.log 2>&1 &
M=$!
for i in $(seq 60); do curl -s -o /dev/null localhost:5077/health && break; sleep 1; done
B="python3 -m bench.serve --device cuda --url http://127.0.0.1:5077 --no-peer --no-model-only --concurrency 256 --plot /dev/null"
$B --rounds 2 --json /tmp/warm.json > /tmp/warm.log 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/warm.log
W=$(pgrep -P $M | head -1); E=$(pgrep -P $W | head -1); echo "master $M worker $W engine $E"
$B --rounds 40 --json /tmp/pyspy_load.json > /tmp/load.log 2>&1 &
L=$!
for i in $(seq 90); do grep -q 'server warm' /tmp/load.log && break; sleep 1; done; sleep 4
py-spy record -p $W -d 8 -r 200 --gil -f raw -o $OUT/pyspy_256_worker_gil.txt > /tmp/ps2.log 2>&1 & P2=$!
py-spy record -p $E -d 8 -r 200 -f raw -o $OUT/pyspy_256_engine.txt > /tmp/ps3.log 2>&1 & P3=$!
sleep 3; top -b -n 1 | head -20 > $OUT/top_256.txt
wait $P2 $P3 $L
tail -2 /tmp/ps3.log; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/load.log
kill $M; sleep 2; gzip $OUT/pyspy_*.txt; ls -la $OUT
