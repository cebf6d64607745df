#!/bin/bash
# session 14, call 1: the lent machine's Xeon host pinned to 2 cores (taskset -c 0,1). Builds llama.cpp from the
# vendored source (kept in .llc while the machine stays warm), then the fp32 C step at batch 1 and 16, model only
# against transformers: the session's start (6a44f20, .whl/old) and this tree, alternated twice
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
[ -d $R/vendor/llama.cpp/gguf-py ] || tar xzf .whl/llama.cpp.tgz -C $R/vendor
if [ ! -x $R/vendor/llama.cpp/build/bin/llama-server ]; then
  (cd $R/vendor/llama.cpp && cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 \
   && cmake --build build --target llama-bench llama-server -j16 >> $OUT/cmake.log 2>&1) || { tail -30 $OUT/cmake.log; exit 1; }
fi
echo "llama.cpp built at $SECONDS s"
lscpu | grep -E "Model name|^CPU\(s\)|Flags" > $OUT/cpu.txt; grep "Model name" $OUT/cpu.txt
for rep in 1 2; do
  for t in old new; do
    dir=$PWD; [ $t = old ] && dir=$PWD/.whl/old
    (cd $dir && PYTHONPATH=/tmp/site:$dir taskset -c 0,1 timeout 120 python3 -m bench.decode --device cpu --threads 2 \
      --batch-sizes 1,16 --new-tokens 64 --repeats 2 > $OUT/xeon_ab_${t}_$rep.log 2>&1)
    echo "== $t $rep"; grep -A3 '^batch' $OUT/xeon_ab_${t}_$rep.log | grep -v greedy
  done
done
echo "done at $SECONDS s"
