#!/usr/bin/env bash
# The interleaving-initialised 50-step LiGO variant (ligo-il50 of tuning/heldout-5-6.sh) on seeds 1–4, run after
# seeds 5–6 were reported, at the budgets the 50-step variant used there (around each seed's target), so that it
# has all six seeds. Not held out: the interleaving init was chosen because interleaving led the baselines on 1–4.
# Run from experiments/growth after the seeds' Makefile runs; ~20 min on the 2-core machine.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
declare -A BUDGETS=([1]="400 550" [2]="1100 1400" [3]="1000 1400" [4]="700 1000 1400")  # seed 4: its 1,000-step run ended 0.0001 above the target
for S in 1 2 3 4; do
  O=out-g$S
  [ -f $O/il50/grown-ligo/config.json ] || $LIGO grow $O/small --width 128 --depth 4 --method ligo --data $O/data \
    --steps 50 --warmup 5 --batch 8 --seq 128 --eval-batches 20 --seed $S --depth-init interleave -o $O/il50/grown-ligo --force
  for B in ${BUDGETS[$S]}; do
    [ -f $O/il50/run-ligo-$B/checkpoint/trainer.json ] || $LIGO train $O/il50/grown-ligo --config target.yaml \
      --data $O/data -o $O/il50/run-ligo-$B --seed $S --steps $B --eval-every $B --save-every 0 --force
  done
done
