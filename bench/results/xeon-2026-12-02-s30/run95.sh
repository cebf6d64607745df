#!/bin/bash
# session 30 on B (2 cores pinned), after run93 and run94 found this session's fp32 products of 16 and 32 rows at half
# speed (GCC no longer inlined the group passes into the fp32 product): panels_product, block_product
# and rows_sums inlined into each exported product, its kind a constant, as GCC had done at b8d4374; the widened
# products in a function of their own. fp32 both orders, bf16, bits, tests.
exec bash "$(dirname "$0")/run94.sh" 95
