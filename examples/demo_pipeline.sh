#!/usr/bin/env bash
# The whole vssl pipeline on the embedded synthetic dataset, on a CPU, in a few minutes:
# synth -> extract -> precompute fame, be -> pretrain (DSM, tiny backbone) -> eval vs random init -> report.
# Usage: bash examples/demo_pipeline.sh [OUT_DIR]   (every stage by hand; `make demo` runs examples/demo.sh)
set -euo pipefail
OUT=${1:-demo}
VSSL=${VSSL:-.venv/bin/vssl}
METHODS=${METHODS:-dsm cmd}
STEPS=${STEPS:-300}
mkdir -p "$OUT"

# `--preset demo` (vssl/train/presets.py) sets the tiny backbone, 8-frame clips at 64x86 cropped to 56,
# a few hundred steps and the short-run learning rates, momenta and queues; `vssl eval --preset demo`
# evaluates with the matching clip options (also for --random-init).
echo "== 1/6 synth: scene-biased synthetic videos"
"$VSSL" synth "$OUT/data" --classes 4 --videos-per-class 24 --size 128x96 --frames 48 --seed 0

echo "== 2/6 extract: keyframes, motion vectors, frames -> HDF5 shards"
"$VSSL" extract "$OUT/data" --out "$OUT/cache" --size 64 -q
"$VSSL" verify "$OUT/cache" -q

echo "== 3/6 precompute: FAME masks and BE static frames"
"$VSSL" precompute fame "$OUT/cache" -q
"$VSSL" precompute be "$OUT/cache" -q

echo "== 4/6 pretrain: $METHODS, tiny backbone, $STEPS steps each on the CPU"
for METHOD in $METHODS; do
  # shellcheck disable=SC2086
  "$VSSL" pretrain --method "$METHOD" --preset demo --cache "$OUT/cache" --out "$OUT/runs/$METHOD" \
    --steps "$STEPS" --device cpu -j 2
done

echo "== 5/6 eval: retrieval, linear probe and scene bias, pretrained vs random init"
for RUN in $METHODS random; do
  if [ "$RUN" = random ]; then CKPT=(--random-init); else CKPT=(--checkpoint "$OUT/runs/$RUN"); fi
  "$VSSL" eval retrieval --cache "$OUT/cache" "${CKPT[@]}" --preset demo --out "$OUT/eval/$RUN"
  "$VSSL" eval linear --cache "$OUT/cache" "${CKPT[@]}" --preset demo --out "$OUT/eval/$RUN"
  "$VSSL" eval scene-bias --cache "$OUT/cache" "${CKPT[@]}" --preset demo --out "$OUT/eval/$RUN"
done

echo "== 6/6 report"
REPORT_DIRS=()
for RUN in $METHODS random; do REPORT_DIRS+=("$OUT/eval/$RUN"); done
for RUN in $METHODS; do REPORT_DIRS+=("$OUT/runs/$RUN"); done
"$VSSL" report "${REPORT_DIRS[@]}" --out "$OUT/report"
echo "report: $OUT/report/report.md"
