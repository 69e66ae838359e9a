#!/usr/bin/env bash
# A second protocol: grown models trained with a short warmup instead of scratch's 300 steps (everything else as
# target.yaml: peak η 1.6e-2, cosine to 0.1·η, batch, data order). The official LiGO code trains its grown BERT with
# warmup 0 (README: --warmup_steps 0) against scratch's 10k; here every budget run re-warmed over 300 steps, 75% of a
# 400-step run. Scratch keeps its own tuned schedule (warmup 300, the best cell of tuning/README.md).
# Warmup W chosen on seed 1 with stacking (a baseline, so the choice does not favour LiGO), 400 steps, final val
# loss: W = 0 1.959, 30 1.923, 60 1.918, 120 1.924, 300 1.971 (out-g1/w0/probe-stack-wW-400). LiGO at W = 0 /
# 30: 1.959 / 1.912. Then run on seeds 5–8, fixed before any of their short-warmup runs existed (2026-11-23):
# the five methods and LiGO with 25 operator steps (op25.sh), reusing each seed's grown checkpoints.
# Budgets by rule: grid 200 300 400 550 700 1000 1400 1750; stacking walks first, from one grid point below where
# budget-walk.sh's rule starts it under the 300-step protocol; every other method then walks from the smallest
# budget at which stacking reached the target. Run from experiments/growth; a rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # final, below, run, first_budget, walk
W=60
TRAIN_FLAGS="--warmup $W"
OLD=("${GRID[@]}")
declare -A SCRATCH=([5]=out-s5/run-random [6]=out-s6/run-random [7]=out-g7/run-random [8]=out-g8/run-random)
for S in 5 6 7 8; do
  O=out-g$S; T=$(final ${SCRATCH[$S]})
  GRID=("${OLD[@]}"); k=$(first_budget $T); B0=${GRID[$k]}
  GRID=(200 300 400 550 700 1000 1400 1750)
  for i in "${!GRID[@]}"; do [ ${GRID[$i]} = $B0 ] && k=$((i > 0 ? i - 1 : 0)); done
  D=$O/w$W
  walk $O/grown-stack $D/run-stack $S $T $k
  for i in "${!GRID[@]}"; do                      # the smallest budget at which stacking reached the target
    [ -f $D/run-stack-${GRID[$i]}/metrics.jsonl ] && below "$(final $D/run-stack-${GRID[$i]})" "$T" && { k=$i; break; }
  done
  for m in ligo interleave net2net zero; do walk $O/grown-$m $D/run-$m $S $T $k; done
  walk $O/op25/grown-ligo $D/run-ligo-op25 $S $T $k
done
