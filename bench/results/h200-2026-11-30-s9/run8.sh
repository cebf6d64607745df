#!/bin/bash
# session 9, run 2: the Xeon (2 cores) with the C step chosen at run time; the batch-1 GPU step's kernels
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PATH=/tmp/site/bin:$PATH
echo "== Xeon, 2 cores: the Decoder's step (the C step where its timing chose it) against PyTorch's step"
CUDA_VISIBLE_DEVICES= PYTHONPATH=/tmp/site:$PWD taskset -c 0,1 timeout 200 python3 -c "
import logging; logging.basicConfig(level=logging.INFO)
import runpy, sys; sys.argv = ['x', '1,4,16']; runpy.run_path('.whl/stepbench.py', run_name='__main__')" 2>&1 | grep -v "Warn\|products timed" | tee $OUT/xeon_step_auto.txt
echo "== GPU batch-1 step"
PYTHONPATH=/tmp/site:$PWD timeout 200 python3 .whl/step_profile.py 2>&1 | grep -v Warn | tee $OUT/gpu_step_profile.txt
