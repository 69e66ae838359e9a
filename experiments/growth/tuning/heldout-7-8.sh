#!/usr/bin/env bash
# Held-out seeds 7 and 8, written before any of their runs existed (2026-11-23): scratch, the five grown methods
# and the two 50-step LiGO variants (ligo-op50, ligo-il50 of heldout-5-6.sh), nothing chosen after seeing them.
# Budgets are not hand-picked: scratch runs first, then each grown method is trained on the grid
#   400 550 700 1000 1400 1750 steps,
# starting at the largest grid budget whose mean final loss over seeds 1–6 (all methods: 1.974, 1.910, 1.878,
# 1.816, 1.768 for 400–1,400) is above scratch's final loss, walking up the grid until a run reaches scratch's final
# loss (and down first, if the starting budget already reaches it), so every method gets the two adjacent budgets
# that bracket the target, and `ligo compare --budgets` interpolates between them.
# Run from experiments/growth. Sequential, ~80 min on the 2-core machine. A rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
GRID=(400 550 700 1000 1400 1750)
REF=(1.974 1.910 1.878 1.816 1.768 1.725)   # mean final loss at each grid budget, seeds 1–6 (1,750: seeds 1–2)
final() { node -e 'const r=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse).filter(x=>x.val_loss!==undefined);console.log(r[r.length-1].val_loss)' "$1/metrics.jsonl"; }
below() { node -e 'process.exit(+process.argv[1] <= +process.argv[2] ? 0 : 1)' "$1" "$2"; }   # $1 ≤ $2
run() {  # run DIR GROWN STEPS SEED
  [ -f $1/checkpoint/trainer.json ] || $LIGO train $2 --config target.yaml --data $O/data -o $1 --seed $4 --steps $3 \
    --eval-every $3 --save-every 0 --force
}
for S in 7 8; do
  O=out-g$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r out-g1/data $O/data; }    # the same prepared Brown split
  make --no-print-directory small grown runs SEED=$S OUT=$O METHODS="random"
  make --no-print-directory grown SEED=$S OUT=$O METHODS="ligo stack net2net interleave zero"
  for v in op50 il50; do
    extra=""; [ $v = il50 ] && extra="--depth-init interleave"
    [ -f $O/$v/grown-ligo/config.json ] || $LIGO grow $O/small --width 128 --depth 4 --method ligo --data $O/data \
      --steps 50 --warmup 5 --batch 8 --seq 128 --eval-batches 20 --seed $S $extra -o $O/$v/grown-ligo --force
  done
  T=$(final $O/run-random)
  k0=0; for k in "${!GRID[@]}"; do below "${REF[$k]}" "$T" || k0=$k; done
  echo "seed $S: scratch final $T; first budget ${GRID[$k0]}"
  for m in ligo stack net2net interleave zero op50 il50; do
    case $m in op50|il50) G=$O/$m/grown-ligo; D=$O/$m/run-ligo ;; *) G=$O/grown-$m; D=$O/budget/run-$m ;; esac
    k=$k0; run $D-${GRID[$k]} $G ${GRID[$k]} $S
    if below "$(final $D-${GRID[$k]})" "$T"; then                     # reached already: walk down to a miss
      while [ $k -gt 0 ]; do k=$((k - 1)); run $D-${GRID[$k]} $G ${GRID[$k]} $S; below "$(final $D-${GRID[$k]})" "$T" || break; done
    else                                                               # walk up to a hit
      while [ $k -lt $((${#GRID[@]} - 1)) ]; do k=$((k + 1)); run $D-${GRID[$k]} $G ${GRID[$k]} $S; ! below "$(final $D-${GRID[$k]})" "$T" || break; done
    fi
  done
done
