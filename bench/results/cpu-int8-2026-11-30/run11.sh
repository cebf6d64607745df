#!/bin/bash
# session 10, call 5: the Xeon pinned to 2 cores. (1) the int8 step's tests on AVX-512 VNNI; (2) the int8 step,
# 32-column tiles with 256-bit VNNI (.whl/old = a4cb300) against 64-column tiles with 512-bit VNNI (this tree),
# alternated; (3) ours against llama.cpp q8_0, int8, batch 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
tar xzf .whl/llama.cpp.tgz -C $R/vendor
(cd $R/vendor/llama.cpp && [ -x build/bin/llama-server ] || (cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 \
   && cmake --build build --target llama-bench llama-server -j16 >> $OUT/cmake.log 2>&1)) &
BUILD=$!
echo "== tests"; taskset -c 2,3 timeout 200 python3 -m pytest -q -p no:cacheprovider tests/model/test_cpu_step.py tests/model/test_quantize.py 2>&1 | tail -3
wait $BUILD
for rep in 1 2; do
  (cd .whl/old && TAG=old32 PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 ../stepab.py 1,2,4 int8 float32 2>&1 | grep "B=\|Error")
  (TAG=new64 taskset -c 0,1 timeout 200 python3 .whl/stepab.py 1,2,4 int8 float32 2>&1 | grep "B=\|Error")
done | tee $OUT/xeon_step_tiles_ab.txt
taskset -c 0,1 timeout 200 python3 -c "import logging; logging.basicConfig(level=logging.INFO); import runpy, sys; sys.argv=['bench.decode','--device','cpu','--batch-sizes','1','--peer','llama.cpp','--quantize','int8','--json','$OUT/xeon_decode_int8.json']; runpy.run_module('bench.decode', run_name='__main__')" > $OUT/xeon_decode_int8.log 2>&1
grep -A1 "^batch" $OUT/xeon_decode_int8.log; grep -A4 "^llama.cpp (build" $OUT/xeon_decode_int8.log; grep "decode steps timed" $OUT/xeon_decode_int8.log | head -1 | cut -c1-300; grep -i "Traceback" -A3 $OUT/xeon_decode_int8.log | head -5
