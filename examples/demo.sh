#!/usr/bin/env bash
# The whole vssl pipeline on the embedded synthetic dataset, on a CPU, in a few minutes:
# synth -> extract -> precompute fame, be -> pretrain (DSM, tiny backbone) -> eval vs random init -> report.
# Usage: bash examples/demo.sh [OUT_DIR]   (make demo runs it with OUT_DIR=demo)
set -euo pipefail
OUT=${1:-demo}
VSSL=${VSSL:-.venv/bin/vssl}
METHODS=${METHODS:-dsm cmd}
STEPS=${STEPS:-400}
mkdir -p "$OUT"

# Small clips keep the demo on a laptop CPU: 8 frames at 64x86, crops of 56, the tiny
# backbone, a few hundred steps. The paper learning rates (0.003 for DSM, 5e-4 x batch
# for CMD) barely move a tiny network in so few steps, so the demo uses larger ones and
# a queue smaller than its 64 training videos; CMD's motion-vector encoder is tiny too.
DATA_OPTS=(--clip-len 8 --set data.load_size=[64,86])
declare -A METHOD_OPTS=(
  [dsm]="--lr 0.03 --set dsm.crop=56 --set dsm.queue_size=32"
  [cmd]="--lr 0.05 --set cmd.crop=56 --set cmd.mv_encoder=tiny --set cmd.mv_len=8 --set cmd.mv_size=14"
  [moco]="--lr 0.03 --set moco.crop=56 --set moco.queue_size=32"
  [simclr]="--lr 0.1 --set simclr.crop=56"
  [be]="--lr 0.03 --set be.crop=56 --set be.queue_size=32"
  [fame]="--lr 0.03 --set fame.crop=56 --set fame.queue_size=32"
)
EVAL_OPTS=(--backbone tiny --clip-len 8 --clips 4 --resize 64 --size 56)

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
  "$VSSL" pretrain --method "$METHOD" --cache "$OUT/cache" --out "$OUT/runs/$METHOD" --backbone tiny \
    --steps "$STEPS" --batch-size 16 --device cpu -j 2 --save-every 100 --log-every 50 "${DATA_OPTS[@]}" \
    ${METHOD_OPTS[$METHOD]:-}
done

echo "== 5/6 eval: retrieval, linear probe and scene bias, pretrained vs random init"
for RUN in $METHODS random; do
  if [ "$RUN" = random ]; then CKPT=(--random-init); else CKPT=(--checkpoint "$OUT/runs/$RUN"); fi
  "$VSSL" eval retrieval --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
  "$VSSL" eval linear --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
  "$VSSL" eval scene-bias --cache "$OUT/cache" "${CKPT[@]}" "${EVAL_OPTS[@]}" --out "$OUT/eval/$RUN"
done

echo "== 6/6 report"
REPORT_DIRS=()
for RUN in $METHODS random; do REPORT_DIRS+=("$OUT/eval/$RUN"); done
for RUN in $METHODS; do REPORT_DIRS+=("$OUT/runs/$RUN"); done
"$VSSL" report "${REPORT_DIRS[@]}" --out "$OUT/report"
echo "report: $OUT/report/report.md"
