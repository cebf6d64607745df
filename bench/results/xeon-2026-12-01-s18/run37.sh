#!/bin/bash
# session 18 (main at c8dbdda): the Xeon host, everything pinned to 2 cores: 1 and 16 fp32 streams through HTTP against
# llama-server --parallel 16 f32 (same client and prompts), this tree (its one-row order timed at the first load),
# twice, as run31.sh of session 16. Builds llama.cpp first.
# session 16's script, unchanged:
exec bash bench/results/xeon-2026-12-01-s16/run31.sh
