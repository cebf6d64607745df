#!/bin/bash
# session 28 on the AVX2 EPYC (D): 1 and 16 greedy fp32 streams through HTTP against llama-server f32 (--parallel
# 16, same client and prompts), this tree (panels with AVX2) and main at 50e2ae6 (plain layout) alternated, each
# tree with its own kernel cache (paths timed at its first load, then kept).
R=$(cd "$(dirname "$0")" && pwd)
THIS=$(cd "$R/../../.." && pwd)
MAIN=${MAIN:-/tmp/s28/main_tree}  # a checkout of 50e2ae6 (git worktree add)
export NANOGPT_LLAMA_CPP_CACHE=/root/.cache/nanogpt-serve/llama.cpp
for round in 1 2; do
  for side in this main; do
    tree=$THIS; [ $side = main ] && tree=$MAIN
    (cd $tree && XDG_CACHE_HOME=/tmp/s28/cache-$side timeout 900 python -m bench.serve --device cpu --concurrency 1,16 \
      --client-procs 2 --rounds 2 --repeats 1 --no-model-only --peer llama.cpp:f32 \
      --json $R/http_${side}_$round.json --plot /dev/null > $R/http_${side}_$round.log 2>&1)
    echo "== $side $round rc $? ($SECONDS s)"; tail -4 $R/http_${side}_$round.log
  done
done
