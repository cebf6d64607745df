#!/bin/bash
# session 18 (main at c8dbdda): the Xeon host pinned to 2 cores: ours (this tree, the path choices timed at the first load) against
# transformers, fp32, batch 1 and 16, model only, the sides alternated by bench.decode.
# session 17's script, unchanged:
exec bash bench/results/xeon-2026-12-01-s17/run33.sh
