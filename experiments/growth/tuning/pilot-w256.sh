#!/usr/bin/env bash
# Scale pilot (exploration, written before any of its runs): does LiGO-25's edge over interleaving grow with the
# model? The same protocol one size up: source 2 × 128 (small-w128.yaml, µP base 64, m = 2; 1,500 steps at η 8e-3
# as small.yaml) → target 4 × 256 (3.2 M parameters; m = 4), every target run on target.yaml as is (µTransfer:
# η 1.6e-2, warmup 300, cosine, 1,750 steps, batch 16 × 128; scratch evaluated every 250 steps, which does not
# change training). Methods: interleaving (the baseline LiGO-25 ties at 4 × 128) and LiGO-25 (`--steps 25
# --warmup 3`, operator batch 8 × 128). Budgets: budget-walk.sh's walk on its grid, started at 1,000 steps for
# both methods (its REF losses are for the smaller target), so each method gets the two budgets around scratch's
# final loss. Seeds 1, 2, 3 in order, as many as the session allows; every finished seed is reported. ~40 min per
# seed on the 2-core AVX-512 machine. Three seeds can show only a large effect (the paired sd at 4 × 128 was
# ~1.2 points): this is a pointer for a larger study, not a test of #9.
# Run from experiments/growth; a rerun skips finished runs. Output: out-pS (git-ignored).
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh
for S in ${SEEDS:-1 2 3}; do
  O=out-p$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r out-g15/data $O/data; }
  [ -f $O/small/checkpoint/trainer.json ] || $LIGO train --config small-w128.yaml --data $O/data -o $O/small --seed $S --force
  for M in random interleave; do
    [ -f $O/grown-$M/config.json ] || $LIGO grow $O/small --width 256 --depth 4 --method $M --data $O/data --seed $S -o $O/grown-$M --force
  done
  [ -f $O/grown-ligo25/config.json ] || $LIGO grow $O/small --width 256 --depth 4 --method ligo --data $O/data \
    --steps 25 --warmup 3 --batch 8 --seq 128 --eval-batches 20 --seed $S -o $O/grown-ligo25 --force
  [ -f $O/run-random/checkpoint/trainer.json ] || $LIGO train $O/grown-random --config target.yaml --data $O/data \
    -o $O/run-random --seed $S --eval-every 250 --force
  T=$(final $O/run-random)
  echo "seed $S: scratch final $T"
  walk $O/grown-interleave $O/budget/run-interleave $S $T 3
  walk $O/grown-ligo25 $O/budget/run-ligo25 $S $T 3
  for d in $O/budget/run-*; do echo "seed $S $d $(final $d)"; done
done
