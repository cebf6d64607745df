#!/bin/bash
# session 23: attention_hint.py on copies of the repository in $1 whose model/cpu_step.c asks for the KV cache's next
# lines into L1 as committed at 88c6660 (t0), into L2 (t1: prefetcht1), or not at all (none); three rounds, alternated.
B=$1; D=$(dirname $0)  # run from the repository root
variant() {  # name, sed program for model/cpu_step.c
    mkdir -p $B/$1 && cp -r model bench $B/$1/ && rm -rf $B/$1/bench/results && sed -i "$2" $B/$1/model/cpu_step.c
}
variant t0 ''
variant t1 's/__builtin_prefetch(\(cache[^;]*\));/__builtin_prefetch(\1, 0, 2);/'
variant none 's/__builtin_prefetch(cache[^;]*;/(void)0;/'
grep -c ", 0, 2);" $B/t1/model/cpu_step.c; grep -c "(void)0;" $B/none/model/cpu_step.c
for round in 1 2 3; do for v in t0 t1 none; do (cd $B/$v && python3 $OLDPWD/$D/attention_hint.py $v); done; done
