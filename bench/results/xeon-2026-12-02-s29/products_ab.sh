#!/bin/bash
# products_ab.sh OUT TREE_A TREE_B [CFLAGS [C_FILE]]: products_ab.c (or C_FILE) with TREE_A/model/cpu_panels.c as A and TREE_B's as B
out=$1; ta=$2/model; tb=$3/model; flags=$4; here=$(cd "$(dirname "$0")" && pwd); src=${5:-$here/products_ab.c}
R="-Dskinny_linear_panels=slp_X -Dskinny_linear_panels_bf16=slpb_X -Dproduct_panels_bf16=ppb_X -Dpanel_line=pl_X"
R="$R -Dproduct_panels_bf16_pairs=ppbp_X -Dskinny_linear_panels_bf16_pairs=slpbp_X -Damx_bf16_ready=amx_X"
R="$R -Dproduct_panels_amx=pamx_X"
cc -O3 -march=native $flags -fopenmp -c -I$ta -Dproduct_panels=pp_A ${R//X/A} -o /tmp/ab_a.o $ta/cpu_panels.c &&
cc -O3 -march=native $flags -fopenmp -c -I$tb -Dproduct_panels=pp_B ${R//X/B} -o /tmp/ab_b.o $tb/cpu_panels.c &&
cc -O3 -march=native $flags -fopenmp -o $out $src /tmp/ab_a.o /tmp/ab_b.o -lm
