#!/bin/bash
# session 22: attention_ab.py on copies of the repository in $1 whose model/cpu_step.c asks for the next lines of
# the KV cache as committed (base), not at all (none), or into L2 (l2); three rounds, the variants alternated.
B=$1; D=$(dirname $0)  # run from the repository root
variant() {  # name, sed program for model/cpu_step.c
    mkdir -p $B/$1 && cp -r model bench $B/$1/ && rm -rf $B/$1/bench/results && sed -i "$2" $B/$1/model/cpu_step.c
}
variant base ''
variant none 's/__builtin_prefetch(cache[^;]*;/(void)0;/'
variant l2 's/__builtin_prefetch(\(cache[^;]*\));/__builtin_prefetch(\1, 0, 2);/'
grep -c "(void)0;" $B/none/model/cpu_step.c; grep -c ", 0, 2);" $B/l2/model/cpu_step.c
for round in 1 2 3; do for v in base none l2; do (cd $B/$v && taskset -c 0,1 python3 $OLDPWD/$D/attention_ab.py $v); done; done
