#!/bin/bash
# session 11, run 3: py-spy of HEAD's worker and engine process at 256 streams (the server takes the client's key)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD
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
$B --rounds 40 --json $OUT/pyspy_load.json > /tmp/load.log 2>&1 &
L=$!
for i in $(seq 90); do grep -q 'server warm' /tmp/load.log && break; sleep 1; done; sleep 4; echo "load started after $i s"
py-spy record -p $W -d 8 -r 200 -f raw -o $OUT/pyspy_256_worker.txt > /tmp/ps1.log 2>&1 & P1=$!
py-spy record -p $W -d 8 -r 200 --gil -f raw -o $OUT/pyspy_256_worker_gil.txt > /tmp/ps2.log 2>&1 & P2=$!
py-spy record -p $E -d 8 -r 200 -f raw -o $OUT/pyspy_256_engine.txt > /tmp/ps3.log 2>&1 & P3=$!
sleep 3; top -b -n 1 | head -20 > $OUT/top_256.txt
wait $P1 $P2 $P3 $L
cat /tmp/ps1.log /tmp/ps3.log | tail -4; grep -E "^ +[0-9]+ +[0-9.]+ " /tmp/load.log
kill $M; sleep 2; gzip $OUT/pyspy_*.txt; ls -la $OUT
