#!/usr/bin/env bash
# Held-out seeds 7 and 8, written before any of their runs existed (2026-11-23): scratch, the five grown methods
# and the two 50-step LiGO variants (ligo-op50, ligo-il50 of heldout-5-6.sh), nothing chosen after seeing them.
# Budgets are not hand-picked: scratch runs first, then each grown method gets the two adjacent budgets of the grid
# 400 550 700 1000 1400 1750 that bracket scratch's final loss, found by the rule of budget-walk.sh (written inline
# here when the script ran; moved to the shared helper afterwards, unchanged, for op25.sh).
# Run from experiments/growth. Sequential, ~80 min on the 2-core machine. A rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # grow_ligo, final, first_budget, walk
for S in 7 8; do
  O=out-g$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r out-g1/data $O/data; }    # the same prepared Brown split
  make --no-print-directory small grown runs SEED=$S OUT=$O METHODS="random"
  make --no-print-directory grown SEED=$S OUT=$O METHODS="ligo stack net2net interleave zero"
  grow_ligo $O/op50/grown-ligo $S 50 5
  grow_ligo $O/il50/grown-ligo $S 50 5 --depth-init interleave
  T=$(final $O/run-random)
  echo "seed $S: scratch final $T; first budget ${GRID[$(first_budget $T)]}"
  for m in ligo stack net2net interleave zero op50 il50; do
    case $m in op50|il50) walk $O/$m/grown-ligo $O/$m/run-ligo $S $T ;; *) walk $O/grown-$m $O/budget/run-$m $S $T ;; esac
  done
done
