#!/bin/bash
# session 20, machine B pinned to 2 cores: (1) ws.c, main's product over working sets of 57 MB to 497 MB; (2) 16
# fp32 streams through HTTP against llama-server f32 with its KV cache in f32 too (-ctk f32 -ctv f32), ours fp32.
D=bench/results/xeon-2026-12-01-s20
gcc -O3 -march=native -fopenmp -shared -fPIC model/cpu_kernel.c -o /tmp/libk.so -lm \
  && gcc -O2 -fopenmp -I model $D/ws.c -o /tmp/ws -L/tmp -lk -Wl,-rpath,/tmp -lm || exit 1
for rows in 16 1; do taskset -c 0,1 /tmp/ws $rows; done | tee $OUT/ws.txt
. bench/results/xeon-2026-12-01-s19/setup.sh
for i in 1 2; do serve p128_f32cache_$i --rounds 2 --llama-cache-type f32; done
rm -f $OUT/*.png $OUT/*.log
