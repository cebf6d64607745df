#!/bin/bash
# session 24, machine B: run63.sh with bench.serve's default two requests a stream (32 in all), on the same host
# right after it. As it ran:
sed -e 's/--rounds 6/--rounds 2/' -e 's/_r6/_r2/g' bench/results/xeon-2026-12-02-s24/run63.sh > /tmp/run64.sh && bash /tmp/run64.sh
