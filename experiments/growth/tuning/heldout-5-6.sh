#!/usr/bin/env bash
# Held-out seeds 5 and 6 (decided before any of their grown runs existed): every grown method, budget-matched
# against the six-seed sweep's scratch runs out-s5/out-s6 run-random, plus two LiGO variants fixed in advance:
#   ligo-op50  50 operator steps (--steps 50 --warmup 5), chosen after seeds 1–2, held out on 3–4 (a tie there);
#   ligo-il50  the same with LiGO's depth initialised by interleaving (--depth-init interleave, noise as default):
#              interleaving is the best fixed baseline over seeds 1–4; an operator learned from it is untested.
# Budgets bracket each seed's scratch final loss (seed 5: 1.9126, seed 6: 1.8678) by analogy with seed 1 (1.9245).
# Run from experiments/growth. Sequential: ~80 min on the 2-core machine (it took 80 min here, run method by
# method across both seeds; this per-seed order makes the same runs). A rerun skips the runs already finished.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # grow_ligo, run
declare -A BUDGETS=([5]="400 550 700" [6]="550 700 1000")
for S in 5 6; do
  O=out-g$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r out-g1/data $O/data; }    # the same prepared Brown split
  make --no-print-directory small grown SEED=$S OUT=$O METHODS="ligo stack net2net interleave zero"
  grow_ligo $O/op50/grown-ligo $S 50 5
  grow_ligo $O/il50/grown-ligo $S 50 5 --depth-init interleave
  # The five methods: the Makefile's budget runs (out-gS/budget/run-METHOD-STEPS).
  make --no-print-directory budget-runs SEED=$S OUT=$O METHODS="ligo stack net2net interleave zero" BUDGETS="${BUDGETS[$S]}"
  for v in op50 il50; do
    for B in ${BUDGETS[$S]}; do run $O/$v/run-ligo-$B $O/$v/grown-ligo $B $S; done
  done
done
