#!/bin/bash
# session 26, C (the Zen 5 VM): through HTTP, greedy, one stream and 16, this tree (the argmax head) against main
# before it (4c60c0e, a worktree at $BASE), alternated twice; no peer, no model-only column.
NEW=${NEW:-/work/main} BASE=${BASE:-/tmp/s26/base} R=$NEW/bench/results/cpu-zen5-2026-12-02-s26
for i in ${ROUNDS:-1 2}; do for side in base new; do tree=$NEW; [ $side = base ] && tree=$BASE
  (cd $tree && python -m bench.serve --device cpu --concurrency 1,16 --rounds 2 --repeats 1 --no-peer --no-model-only \
     --client-procs 2 --json $R/http_${side}_$i.json --plot /dev/null > $R/http_${side}_$i.log 2>&1)
  echo "== $side $i"; grep -E "^ +(1|16) +[0-9.]+ " $R/http_${side}_$i.log
done; done
