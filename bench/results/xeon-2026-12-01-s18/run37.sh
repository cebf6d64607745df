#!/bin/bash
# session 18 (main at c8dbdda): the Xeon host, everything pinned to 2 cores: 1 and 16 fp32 streams through HTTP against
# llama-server --parallel 16 f32 (same client and prompts), this tree (its one-row order timed at the first load),
# twice, as run31.sh of session 16. Builds llama.cpp first.
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
for rep in 1 2; do
  PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 -m bench.serve --device cpu --concurrency 1,16 \
    --rounds 2 --no-model-only --client-procs 2 --peer llama.cpp:f32 --json $OUT/xeon_serve_$rep.json \
    > $OUT/xeon_serve_$rep.log 2>&1
  echo "== $rep ($SECONDS s)"; grep -E '^ +(1|16) |llama.cpp f32:' $OUT/xeon_serve_$rep.log
done
python3 -c "import json, pathlib; d = json.loads((pathlib.Path.home() / '.cache/nanogpt-serve/cpu_paths.json').read_text()); print([(k, v) for e in d.values() for k, v in e.items() if 'one row' in k])"
rm -f $OUT/*.png
