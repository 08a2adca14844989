#!/usr/bin/env bash
# The vssl demo on a CPU: `vssl bench science --quick` makes two synthetic action datasets
# (background independent of the class / background following the class), extracts them
# into caches, pretrains MoCo with `--preset demo` (tiny backbone, 100 steps) on frame differences,
# two supervised controls (RGB frames, frame differences) and random networks, two runs at a time
# on a 2-core machine, evaluates all of them with the same protocol and prints the table with 95 %
# bootstrap intervals and a verdict per method (`--inputs rgb,diff` adds MoCo on RGB frames).
# Usage: bash examples/demo.sh [OUT_DIR]   (make demo runs it with OUT_DIR=demo)
# Every stage by hand (synth, extract, verify, precompute, pretrain, eval, report):
#   bash examples/demo_pipeline.sh
set -euo pipefail
OUT=${1:-demo}
VSSL=${VSSL:-.venv/bin/vssl}
JOBS=${JOBS:-2}
mkdir -p "$OUT"

echo "== 1/2 vssl bench science --quick (rerun to resume; the full benchmark: vssl bench science)"
"$VSSL" bench science --quick --out "$OUT/science" -j "$JOBS"

echo "== 2/2 the caches it wrote verify"
for REGIME in none class; do
  "$VSSL" verify "$OUT/science/data/cache-$REGIME" -q
done
echo "table: $OUT/science/science.md, figure: $OUT/science/science.png"
