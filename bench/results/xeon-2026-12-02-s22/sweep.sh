#!/bin/bash
# session 22: builds variants of model/cpu_panels.c into $1 (a folder) and times them with sweep.c at rows $2...
D=$(dirname $0); B=$1; shift; mkdir -p $B
variant() {  # name, sed program applied to a copy of cpu_panels.c
    sed "$2" model/cpu_panels.c > $B/$1.c && gcc -O3 -march=native -fopenmp -shared -fPIC -w -Imodel $B/$1.c -o $B/$1.so -lm
}
variant base ''
variant ahead4k 's/AHEAD = 8192/AHEAD = 4096/'
variant ahead16k 's/AHEAD = 8192/AHEAD = 16384/'
variant ahead32k 's/AHEAD = 8192/AHEAD = 32768/'
variant hint_t0 's/_MM_HINT_T1/_MM_HINT_T0/g'
variant hint_t2 's/_MM_HINT_T1/_MM_HINT_T2/g'
variant no_prefetch 's/_mm_prefetch(/(void)(/g'
variant span64 's/SPAN = 128/SPAN = 64/'
variant span256 's/SPAN = 128/SPAN = 256/'
variant group4 's/GROUP = 6,/GROUP = 4,/'
variant shares_2span 's/line + (k1 - k0) \* PANEL_WIDTH/line + 2 * (k1 - k0) * PANEL_WIDTH/'
variant ahead32k_t0 's/AHEAD = 8192/AHEAD = 32768/; s/_MM_HINT_T1/_MM_HINT_T0/g'
variant dynamic 's/#pragma omp for schedule(static)/#pragma omp for schedule(dynamic)/'
gcc -O2 -fopenmp $D/sweep.c -o $B/sweep -ldl || exit 1
for rows in "$@"; do taskset -c 0,1 $B/sweep $rows $B/{base,ahead4k,ahead16k,ahead32k,hint_t0,hint_t2,no_prefetch,span64,span256,group4,shares_2span,ahead32k_t0,dynamic}.so; done
