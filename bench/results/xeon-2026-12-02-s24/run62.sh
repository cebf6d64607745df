#!/bin/bash
# session 24, machine B pinned to 2 cores: PyTorch's allocator asking for transparent huge pages
# (THP_MEM_ALLOC_ENABLE=1: madvise on allocations of 2 MB or more, the weights and the KV cache) against without,
# the decode step of GPT-2 124M fp32 in panels at 1 and 16 rows, alternated five times (thp.py).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH CUDA_VISIBLE_DEVICES= XDG_CACHE_HOME=/tmp/cache
cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag
lscpu | grep -E "Model name|NUMA node"
for i in 1 2 3 4 5; do for t in 1 0; do
  THP_MEM_ALLOC_ENABLE=$t PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 python3 bench/results/xeon-2026-12-02-s24/thp.py 2>&1 | tail -1
done; done | tee $OUT/thp.txt
echo "== ($SECONDS s)"
