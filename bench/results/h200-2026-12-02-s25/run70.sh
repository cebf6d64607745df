#!/bin/bash
# session 25, run 5 (the GPU, warm machine of run 2-4): the draw by the exponential race on a GPU again (the
# inversion's float64 scan stays the CPU's), the whole vocabulary sorted for top-p: the sampling tests on cuda;
# sample()'s time, this tree (race) against HEAD's model/sampling.py (inversion, topk), alternated; a profile.
# It reuses run68's /tmp/site and /tmp/head (HEAD's tree) on the same machine.
export PYTHONPATH=/tmp/site:$PWD; D=bench/results/h200-2026-12-02-s25
python3 -m pytest -q -p no:cacheprovider tests/model/test_sampling.py tests/model/test_generate_overlap.py 2>&1 | tail -1
for r in 1 2 3; do for t in race head; do tree=$PWD; [ $t = head ] && tree=/tmp/head
  PYTHONPATH=/tmp/site:$tree python3 $D/sampler_gpu.py $t; done; done 2>&1 | tee $OUT/sampler_gpu_race.txt
python3 $D/sampler_profile.py 2>&1 | grep -v Warn > $OUT/sampler_profile_race.txt; head -14 $OUT/sampler_profile_race.txt
