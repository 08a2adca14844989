#!/usr/bin/env bash
# The vssl pipeline on a real dataset with the paper settings (a GPU machine).
# Usage: bash examples/pipeline.sh ucf101|hmdb51 VIDEO_ROOT SPLITS_DIR METHOD WORK_DIR
#   make ucf101 UCF101=/data/UCF-101 SPLITS=/data/ucfTrainTestlist METHOD=dsm
#   make hmdb51 HMDB51=/data/hmdb51 SPLITS=/data/testTrainMulti_7030_splits METHOD=fame
set -euo pipefail
DATASET=$1; ROOT=$2; SPLITS=$3; METHOD=${4:-dsm}; WORK=${5:-work}
VSSL=${VSSL:-.venv/bin/vssl}
BACKBONE=${BACKBONE:-r3d_18}
CACHE="$WORK/$DATASET/cache"
SPLIT_OPT=()
[ -n "$SPLITS" ] && SPLIT_OPT=(--splits "$SPLITS")

# 1. cache: keyframes, motion vectors and frames (re-encoded to GOP 12 where needed)
"$VSSL" extract "$ROOT" --out "$CACHE" "${SPLIT_OPT[@]}" || [ $? -eq 1 ]   # 1 = some videos failed: listed, go on
"$VSSL" verify "$CACHE"
"$VSSL" info "$CACHE"

# 2. what the method needs beside the cache
case "$METHOD" in
  fame) "$VSSL" precompute fame "$CACHE"; EXTRA=(--fame-masks cache) ;;
  be)   "$VSSL" precompute be "$CACHE"; EXTRA=(--static-frames cache) ;;
  *)    EXTRA=() ;;
esac

# 3. pretraining with the paper recipe (examples/configs/$METHOD.yaml); rerun to resume
"$VSSL" pretrain --config "examples/configs/$METHOD.yaml" --cache "$CACHE" --out "$WORK/$DATASET/runs/$METHOD" \
  --backbone "$BACKBONE" "${EXTRA[@]}"
"$VSSL" export "$WORK/$DATASET/runs/$METHOD" --out "$WORK/$DATASET/runs/$METHOD/backbone.pt"

# 4. the standard protocols, pretrained and random init, then one report
for RUN in "$METHOD" random; do
  if [ "$RUN" = random ]; then CKPT=(--random-init); else CKPT=(--checkpoint "$WORK/$DATASET/runs/$METHOD"); fi
  OUT="$WORK/$DATASET/eval/$RUN"
  "$VSSL" eval retrieval --cache "$CACHE" "${CKPT[@]}" --backbone "$BACKBONE" --out "$OUT"
  "$VSSL" eval linear --cache "$CACHE" "${CKPT[@]}" --backbone "$BACKBONE" --out "$OUT"
  "$VSSL" eval knn --cache "$CACHE" "${CKPT[@]}" --backbone "$BACKBONE" --out "$OUT"
done
"$VSSL" eval finetune --cache "$CACHE" --checkpoint "$WORK/$DATASET/runs/$METHOD" --backbone "$BACKBONE" \
  --out "$WORK/$DATASET/eval/$METHOD-finetune"
"$VSSL" report "$WORK/$DATASET/eval/$METHOD" "$WORK/$DATASET/eval/random" "$WORK/$DATASET/eval/$METHOD-finetune" \
  "$WORK/$DATASET/runs/$METHOD" --out "$WORK/$DATASET/report"
