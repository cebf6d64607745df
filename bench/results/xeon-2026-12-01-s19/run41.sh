#!/bin/bash
# session 19: run40.sh, which ran out of its 10 minutes after three runs, continued: the fourth of its 128-token runs,
# then its two runs of prompts of 640 tokens and 256 out (a fresh machine: llama.cpp built again, 117 s).
. "$(dirname "$0")/setup.sh"
serve p128_bfloat16_2 --rounds 2 --kv-cache-dtype bfloat16
for kv in auto bfloat16; do serve p640_$kv --rounds 1 --prompt-len 640 --output-len 256 --kv-cache-dtype $kv; done
rm -f $OUT/*.png $OUT/*.log
