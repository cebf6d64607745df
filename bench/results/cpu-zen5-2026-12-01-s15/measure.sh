#!/bin/bash
# machine C (Zen 5 EPYC), session 15: model only against llama.cpp and transformers (the HTTP runs: see README.md)
cd /work/main && . .venv/bin/activate && export PYTHONPATH=$PWD
R=bench/results/cpu-zen5-2026-12-01-s15
D="python -m bench.decode --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 --repeats 3 --peer llama.cpp"
$D --json $R/decode_fp32_1.json > $R/decode_fp32_1.log 2>&1
$D --dtype bfloat16 --json $R/decode_bf16_1.json > $R/decode_bf16_1.log 2>&1
$D --quantize int8 --json $R/decode_int8_1.json > $R/decode_int8_1.log 2>&1
$D --json $R/decode_fp32_2.json > $R/decode_fp32_2.log 2>&1
echo MEASURE_DONE
# then two more fp32 runs (the first two gave 0.85x and 0.93x llama.cpp f32 at batch 1)
for i in 3 4; do $D --json $R/decode_fp32_$i.json > $R/decode_fp32_$i.log 2>&1; done
