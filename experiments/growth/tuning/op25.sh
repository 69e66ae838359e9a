#!/usr/bin/env bash
# LiGO with 25 operator steps (--steps 25 --warmup 3: 0.16 TFLOPs, 13.5 target steps' worth).
# Exploratory on seeds 1 and 5 (the two cheapest seeds to test: their targets lie at 400–700 steps), run while
# heldout-7-8.sh was running: budget-matched against interleaving, +0.7 points on those two seeds (the 50-step
# variant: +0.4). Then held out on seeds 7 and 8, decided before any of their grown runs had been read, with the
# budgets of budget-walk.sh. Run from experiments/growth after heldout-7-8.sh; ~15 min on the 2-core machine.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh
declare -A EXPLORE=([1]="400 550" [5]="400 550 700")
for S in 1 5; do
  O=out-g$S; grow_ligo $O/op25/grown-ligo $S 25 3
  for B in ${EXPLORE[$S]}; do run $O/op25/run-ligo-$B $O/op25/grown-ligo $B $S; done
done
for S in 7 8; do
  O=out-g$S; grow_ligo $O/op25/grown-ligo $S 25 3
  walk $O/op25/grown-ligo $O/op25/run-ligo $S "$(final $O/run-random)"
done
