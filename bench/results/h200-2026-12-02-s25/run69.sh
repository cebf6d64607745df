#!/bin/bash
# session 25, run 4: a torch.profiler trace of sample() at top_p on the GPU (sampler_profile.py), this tree; run on
# the machine of run68, whose /tmp/site it reuses (a first try without it failed to import llguidance)
export PYTHONPATH=/tmp/site:$PWD; python3 bench/results/h200-2026-12-02-s25/sampler_profile.py 2>&1 | grep -v Warn | tee $OUT/sampler_profile.txt
