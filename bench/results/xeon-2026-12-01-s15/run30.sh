#!/bin/bash
# session 15, call 2: the Xeon host, everything pinned to 2 cores: 16 fp32 streams through HTTP against
# llama-server --parallel 16 f32 (same client and prompts), the session's start tree (4f83b4f: .whl/base_full.tgz,
# git archive without the bundled model, tests and results) and this one alternated. Builds llama.cpp first.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
[ -d $R/vendor/llama.cpp/gguf-py ] || tar xzf .whl/llama.cpp.tgz -C $R/vendor
if [ ! -x $R/vendor/llama.cpp/build/bin/llama-server ]; then
  (cd $R/vendor/llama.cpp && cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 \
   && cmake --build build --target llama-bench llama-server -j16 >> $OUT/cmake.log 2>&1) || { tail -30 $OUT/cmake.log; exit 1; }
fi
rm -f $OUT/cmake.log; echo "llama.cpp built at $SECONDS s"
B=/tmp/base; mkdir -p $B && tar xzf .whl/base_full.tgz -C $B && ln -s $PWD/model/assets $B/model/assets
for rep in ${REPS:-1 2}; do
  for t in new old; do
    dir=$PWD; [ $t = old ] && dir=$B
    (cd $dir && PYTHONPATH=/tmp/site:$dir taskset -c 0,1 timeout 190 python3 -m bench.serve --device cpu --concurrency 16 \
      --rounds 2 --no-model-only --client-procs 2 --peer llama.cpp:f32 --json $OUT/xeon_serve16_${t}_$rep.json \
      > $OUT/xeon_serve16_${t}_$rep.log 2>&1)
    echo "== $t $rep ($SECONDS s)"; grep -E '^ +16 |llama.cpp f32:' $OUT/xeon_serve16_${t}_$rep.log
  done
done
rm -f $OUT/*.png
