#!/bin/bash
# session 14, call 3: the Xeon host, everything pinned to 2 cores: 16 fp32 streams through HTTP against
# llama-server --parallel 16 f32 (same client and prompts), the session's start (.whl/old) and this tree alternated
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
[ -d $R/vendor/llama.cpp/gguf-py ] || tar xzf .whl/llama.cpp.tgz -C $R/vendor
[ -x $R/vendor/llama.cpp/build/bin/llama-server ] || { echo "llama.cpp not built: run run26.sh first"; exit 1; }
for rep in ${REPS:-1 2}; do
  for t in new old; do
    dir=$PWD; [ $t = old ] && dir=$PWD/.whl/old
    (cd $dir && PYTHONPATH=/tmp/site:$dir taskset -c 0,1 timeout 190 python3 -m bench.serve --device cpu --concurrency 16 \
      --rounds 2 --no-model-only --client-procs 2 --peer llama.cpp:f32 --json $OUT/xeon_serve16_${t}_$rep.json \
      > $OUT/xeon_serve16_${t}_$rep.log 2>&1)
    echo "== $t $rep ($SECONDS s)"; grep -E '^ +16 |llama.cpp f32:' $OUT/xeon_serve16_${t}_$rep.log
  done
done
rm -f $OUT/*.png
