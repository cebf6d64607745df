#!/bin/bash
# session 10, call 1: the Xeon host pinned to 2 cores; ours against llama.cpp (built here from the vendored source) in
# one process per precision: int8 and fp32
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD NANOGPT_LLAMA_CPP_CACHE=$PWD/.llc CUDA_VISIBLE_DEVICES=
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
tar xzf .whl/llama.cpp.tgz -C $R/vendor  # the sources each call (the converter): only build outputs stay between calls
if [ ! -x $R/vendor/llama.cpp/build/bin/llama-server ]; then
  (cd $R/vendor/llama.cpp && cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 \
   && cmake --build build --target llama-bench llama-server -j16 >> $OUT/cmake.log 2>&1) || { tail -30 $OUT/cmake.log; exit 1; }
fi
lscpu | grep -E "Model name|^CPU\(s\)|Flags" > $OUT/cpu.txt; grep "Model name" $OUT/cpu.txt
for p in ${PRECISIONS:-int8 fp32}; do
  a=""; [ $p = bf16 ] && a="--dtype bfloat16"; [ $p = int8 ] && a="--quantize int8"
  taskset -c 0,1 timeout 200 python3 -c "import logging; logging.basicConfig(level=logging.INFO); import runpy, sys; sys.argv=['bench.decode','--device','cpu','--batch-sizes','1','--peer','llama.cpp', *'$a'.split(), '--json', '$OUT/xeon_decode_$p.json']; runpy.run_module('bench.decode', run_name='__main__')" > $OUT/xeon_decode_$p.log 2>&1
  echo "== $p"; grep -A1 "^batch" $OUT/xeon_decode_$p.log; grep -A4 "^llama.cpp (build" $OUT/xeon_decode_$p.log; grep "decode steps timed" $OUT/xeon_decode_$p.log | cut -c1-300; grep -i "error\|Traceback" $OUT/xeon_decode_$p.log | head -5
done
for rep in $(seq 1 ${STEP_AB:-0}); do
  (cd .whl/old && TAG=old PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 ../stepab.py 1,4 int8 float32 > /tmp/old.log 2>&1; echo "old rc $?"; grep "B=\|Error" /tmp/old.log || tail -5 /tmp/old.log)
  (TAG=new taskset -c 0,1 timeout 200 python3 .whl/stepab.py 1,4 int8 float32 2>&1 | grep B=)
done | tee $OUT/xeon_step_ab.txt
