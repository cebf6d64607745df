#!/bin/bash
# session 29, run 2 (B pinned to 2 cores), this tree: GPT-2's 49 fp32 panel products built for AVX2 (-mno-avx512f,
# as a core without AVX-512 runs them), c392079 (s29base) against this tree's (one to six rows: whole steps in one
# pass), 11 alternated rounds; attention alone with the share by keys only; the panels' and C step's tests (the
# AVX2 build's bits against AVX-512's among them); 16 greedy fp32 streams against transformers, 3 repeats.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache88
R=bench/results/xeon-2026-12-02-s29
bash $R/products_ab.sh /tmp/products_ab s29base . -mno-avx512f || exit 1
taskset -c 0,1 /tmp/products_ab 11 1 2 3 4 5 6 8 16 32 2>&1 | tee $OUT/products_avx2_build_run88.txt
for side in base new; do
  tree=$PWD; [ $side = base ] && tree=$PWD/s29base
  cc -O3 -march=native -fopenmp -I$tree/model -o /tmp/attn_$side $R/attn_bench.c $tree/model/cpu_kernel.c $tree/model/cpu_panels.c -lm || exit 1
done
for round in 1 2 3; do
  for side in base new; do
    echo -n "$side: "; for s in "16 192" "16 -1" "16 -2"; do taskset -c 0,1 /tmp/attn_$side $s 21; echo -n " | "; done; echo
  done
done 2>&1 | tee $OUT/attention_run88.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 -m pytest -q -p no:cacheprovider -rs tests/model/test_panels.py tests/model/test_cpu_step.py 2>&1 | tail -3 | tee $OUT/tests_run88.txt
PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 330 python3 -m bench.serve --device cpu --concurrency 16 \
  --client-procs 2 --rounds 2 --repeats 3 --json $OUT/serve_16_run88.json --plot /dev/null > $OUT/serve_16_run88.log 2>&1
echo "== rc $? ($SECONDS s)"; tail -4 $OUT/serve_16_run88.log
