#!/usr/bin/env bash
# The whole vssl pipeline on the embedded synthetic dataset, on a CPU, in a few minutes:
# synth -> extract -> precompute fame, be -> pretrain (DSM, tiny backbone) -> eval vs random init -> report.
# Usage: bash examples/demo.sh [OUT_DIR]   (make demo runs it with OUT_DIR=demo)
set -euo pipefail
OUT=${1:-demo}
VSSL=${VSSL:-.venv/bin/vssl}
METHOD=${METHOD:-dsm}
STEPS=${STEPS:-150}
mkdir -p "$OUT"

# small clips keep the demo on a laptop CPU: 8 frames at 64x86, crops of 56
DATA_OPTS=(--clip-len 8 --set data.load_size=[64,86] --set "${METHOD}.crop=56")
EVAL_OPTS=(--backbone tiny --clip-len 8 --clips 4 --resize 64 --size 56)

echo "== 1/6 synth: scene-biased synthetic videos"
"$VSSL" synth "$OUT/data" --classes 4 --videos-per-class 16 --size 128x96 --frames 48 --seed 0

echo "== 2/6 extract: keyframes, motion vectors, frames -> HDF5 shards"
"$VSSL" extract "$OUT/data" --out "$OUT/cache" --size 64 -q
"$VSSL" verify "$OUT/cache" -q

echo "== 3/6 precompute: FAME masks and BE static frames"
"$VSSL" precompute fame "$OUT/cache" -q
"$VSSL" precompute be "$OUT/cache" -q

echo "== 4/6 pretrain: $METHOD, tiny backbone, $STEPS steps on the CPU"
"$VSSL" pretrain --method "$METHOD" --cache "$OUT/cache" --out "$OUT/runs/$METHOD" --backbone tiny \
  --steps "$STEPS" --batch-size 16 --device cpu -j 2 --save-every 50 --log-every 25 "${DATA_OPTS[@]}"

echo "== 5/6 eval: retrieval, linear probe and scene bias, pretrained vs random init"
for RUN in "$METHOD" random; do
  if [ "$RUN" = random ]; then CKPT=(--random-init); else CKPT=(--checkpoint "$OUT/runs/$METHOD"); fi
  "$VSSL" eval retrieval --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
  "$VSSL" eval linear --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
  "$VSSL" eval scene-bias --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
done

echo "== 6/6 report"
"$VSSL" report "$OUT/eval/$METHOD" "$OUT/eval/random" "$OUT/runs/$METHOD" --out "$OUT/report"
echo "report: $OUT/report/report.md"
