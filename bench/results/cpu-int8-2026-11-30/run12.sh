#!/bin/bash
# session 10, call 6: the Xeon pinned to 2 cores, with the embedding's tiles shared by the C step's head: the int8
# tests (AVX-512 VNNI), the RSS of int8 against fp32 processes, ours against llama.cpp q8_0 at batch 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
tar xzf .whl/llama.cpp.tgz -C $R/vendor
(cd $R/vendor/llama.cpp && [ -x build/bin/llama-server ] || (cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 \
   && cmake --build build --target llama-bench llama-server -j12 >> $OUT/cmake.log 2>&1)) &
BUILD=$!
echo "== tests"; taskset -c 2,3 timeout 200 python3 -m pytest -q -p no:cacheprovider tests/model/test_cpu_step.py tests/model/test_quantize.py 2>&1 | grep -E "passed|failed|assert|^E " | head -12
echo "== RSS (MiB), fp32 and int8 processes"; taskset -c 4,5 timeout 200 python3 .whl/rss.py 2>&1 | tail -4
wait $BUILD
taskset -c 0,1 timeout 200 python3 -c "import logging; logging.basicConfig(level=logging.INFO); import runpy, sys; sys.argv=['bench.decode','--device','cpu','--batch-sizes','1','--peer','llama.cpp','--quantize','int8','--json','$OUT/xeon_decode_int8.json']; runpy.run_module('bench.decode', run_name='__main__')" > $OUT/xeon_decode_int8.log 2>&1
grep -A1 "^batch" $OUT/xeon_decode_int8.log; grep -A4 "^llama.cpp (build" $OUT/xeon_decode_int8.log; grep "decode steps timed" $OUT/xeon_decode_int8.log | head -1 | cut -c1-300; grep -i "Traceback" -A3 $OUT/xeon_decode_int8.log | head -5
