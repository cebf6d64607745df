#!/bin/bash
# session 18 (main at c8dbdda; each variant a patch here): as run35.sh, with the 16-row product summed in spans of 256 inputs (the 24 sums kept between
# spans), so that x and the block's span stay in L1; the next block asked for into L1, L2 or not at all.
V="old none sp256_t1 sp256_t0 sp256_none b_t1_1" exec bash bench/results/xeon-2026-12-01-s18/run35.sh
