#!/bin/bash
# session 21, sourced by run50.sh: session 19's setup.sh, with llama.cpp's binaries as run48.sh built them on this
# kind of host (.whl/llama-bin.tgz) unpacked instead of built again, where they run here.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
R=$PWD/.llc/llama_cpp_python-0.3.36
mkdir -p $R/vendor && touch $PWD/.llc/llama_cpp_python-0.3.36.tar.gz $R/.unpacked
[ -d $R/vendor/llama.cpp/gguf-py ] || tar xzf .whl/llama.cpp.tgz -C $R/vendor
mkdir -p $R/vendor/llama.cpp/build && tar xzf .whl/llama-bin.tgz -C $R/vendor/llama.cpp/build
LD_LIBRARY_PATH=$R/vendor/llama.cpp/build/bin $R/vendor/llama.cpp/build/bin/llama-bench --help > /dev/null 2>&1 \
  || rm -rf $R/vendor/llama.cpp/build  # another CPU: built again
. bench/results/xeon-2026-12-01-s19/setup.sh
