#!/usr/bin/env bash
# The interleaving-initialised 50-step LiGO variant (ligo-il50 of tuning/heldout-5-6.sh) on seeds 1–4, run after
# seeds 5–6 were reported, at the budgets the 50-step variant used there (around each seed's target), so that it
# has all six seeds. Not held out: the interleaving init was chosen because interleaving led the baselines on 1–4.
# Run from experiments/growth after the seeds' Makefile runs; ~20 min on the 2-core machine.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # grow_ligo, run
declare -A BUDGETS=([1]="400 550" [2]="1100 1400" [3]="1000 1400" [4]="700 1000 1400")  # seed 4: its 1,000-step run ended 0.0001 above the target
for S in 1 2 3 4; do
  O=out-g$S
  grow_ligo $O/il50/grown-ligo $S 50 5 --depth-init interleave
  for B in ${BUDGETS[$S]}; do run $O/il50/run-ligo-$B $O/il50/grown-ligo $B $S; done
done
