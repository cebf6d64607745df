#!/bin/bash
# session 14, call 2: the Xeon host pinned to 2 cores, this tree: batch 1 (and 16 against transformers) against
# llama-bench, one process per precision, ours alternating with llama-bench run by run (bench.decode --peer llama.cpp)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
[ -d $R/vendor/llama.cpp/gguf-py ] || tar xzf .whl/llama.cpp.tgz -C $R/vendor
[ -x $R/vendor/llama.cpp/build/bin/llama-server ] || { echo "llama.cpp not built: run run26.sh first"; exit 1; }
for p in ${PRECISIONS:-fp32 int8 bf16}; do
  a=""; [ $p = bf16 ] && a="--dtype bfloat16"; [ $p = int8 ] && a="--quantize int8"
  taskset -c 0,1 timeout 185 python3 -m bench.decode --device cpu --threads 2 --batch-sizes 1,16 --new-tokens 64 \
    --repeats 2 --peer llama.cpp $a --json $OUT/xeon_decode_$p.json > $OUT/xeon_decode_$p.log 2>&1
  echo "== $p (rc $?, $SECONDS s)"; grep -A3 "^batch" $OUT/xeon_decode_$p.log | grep -v greedy; grep -A4 "^llama.cpp (build" $OUT/xeon_decode_$p.log
done
