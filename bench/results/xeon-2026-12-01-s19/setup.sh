#!/bin/bash
# session 19, sourced by run40.sh and run41.sh: the wheels installed, llama.cpp built (as session 16's run31.sh
# builds it), and serve NAME ARGS...: bench.serve at 16 fp32 streams against llama-server f32, pinned to 2 cores.
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
serve() {  # name, then bench.serve's arguments
  local name=$1; shift
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 170 python3 -m bench.serve --device cpu --concurrency 16 \
    --no-model-only --client-procs 2 --peer llama.cpp:f32 --json $OUT/$name.json "$@" > $OUT/$name.log 2>&1
  echo "== $name ($SECONDS s)"; grep -E '^ +16 |llama.cpp f32:' $OUT/$name.log
}
