#!/bin/bash
# session 31, run 3 (B pinned to 2 cores): where a bf16 prefill of 128 rows through the C step spends its time
# (py-spy --native, the C step's frames), against fp32's; and with the KV cache in the other dtype.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache98
which py-spy || exit 1
for a in "bfloat16 128 10" "bfloat16 128 10 float32" "float32 128 10" "float32 128 10 bfloat16" "bfloat16 32 20" "bfloat16 32 20 float32"; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/xeon-2026-12-03-s31/c_only.py $a 2>&1 | grep "^ms"
done 2>&1 | tee $OUT/kv_dtype_run98.txt
for d in bfloat16 float32; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 py-spy record --native --idle -r 400 -f raw -o /tmp/raw_$d.txt -- \
    python3 bench/results/xeon-2026-12-03-s31/c_only.py $d 128 40 2>&1 | grep "^ms"
  python3 - /tmp/raw_$d.txt <<'PY'
import collections, sys
leaf = collections.Counter(); total = 0
for line in open(sys.argv[1]):
    stack, _, n = line.rpartition(" ")
    if "decode_step" not in stack:
        continue
    frames = stack.split(";")
    total += int(n)
    leaf[frames[-1].split(" (")[0]] += int(n)
print("samples in decode_step", total)
for name, n in leaf.most_common(12):
    print(f"  {100 * n / total:5.1f}%  {name[:110]}")
PY
done 2>&1 | tee $OUT/pyspy_run98.txt
