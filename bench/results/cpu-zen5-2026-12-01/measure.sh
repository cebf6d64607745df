#!/bin/bash
# machine C (Zen 5 EPYC), session 14: model-only and HTTP, ours against llama.cpp and transformers
cd /work/main && . .venv/bin/activate && export PYTHONPATH=$PWD
R=bench/results/cpu-zen5-2026-12-01
D="python -m bench.decode --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --peer llama.cpp"
S="python -m bench.serve --device cpu --concurrency 1,16 --rounds 2 --no-model-only --client-procs 2"
for i in 1 2; do
  $D --json $R/decode_fp32_v2_$i.json > $R/decode_fp32_v2_$i.log 2>&1
  $D --dtype bfloat16 --json $R/decode_bf16_v2_$i.json > $R/decode_bf16_v2_$i.log 2>&1
  $D --quantize int8 --json $R/decode_int8_v2_$i.json > $R/decode_int8_v2_$i.log 2>&1
  $S --peer llama.cpp:f32 --json $R/serve_fp32_v2_$i.json > $R/serve_fp32_v2_$i.log 2>&1
done
$S --quantize int8 --peer llama.cpp:q8_0 --json $R/serve_int8_v2_1.json > $R/serve_int8_v2_1.log 2>&1
DTYPE=bfloat16 $S --peer llama.cpp:f16 --json $R/serve_bf16_v2_1.json > $R/serve_bf16_v2_1.log 2>&1
echo MEASURE_DONE
