#!/usr/bin/env bash
# The 4 × 256 study (pre-registered in tuning/study-w256.md; written before any of its runs). Per seed S, in out-qS
# (git-ignored): source 2 × 128 (small-w128.yaml), grown to 4 × 256 by random (the scratch control), interleaving
# and LiGO-25; scratch trained on target-w256.yaml (phase A's schedule); both grown models budget-walked from 1,000
# steps on budget-walk.sh's grid. SECONDARY=1 adds stacking, net2net and zero (grown and walked the same way).
# Run from experiments/growth: SEEDS="4 5 6" bash tuning/study-w256.sh. A rerun skips finished runs and resumes
# interrupted ones.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
TARGET_CFG=target-w256.yaml WIDTH=256
[ -f $TARGET_CFG ] || { echo "missing $TARGET_CFG (phase A's schedule)" >&2; exit 1; }
source tuning/budget-walk.sh
METHODS="interleave"; [ "${SECONDARY:-0}" = 1 ] && METHODS="interleave stack net2net zero"
for S in ${SEEDS:?set SEEDS}; do
  O=out-q$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r out-g15/data $O/data; }
  ensure $O/small 1500 --config small-w128.yaml --data $O/data --seed $S
  for M in random $METHODS; do
    [ -f $O/grown-$M/config.json ] || $LIGO grow $O/small --width $WIDTH --depth 4 --method $M --data $O/data --seed $S -o $O/grown-$M --force
  done
  grow_ligo $O/grown-ligo25 $S 25 3
  ensure $O/run-random 1750 $O/grown-random --config $TARGET_CFG --data $O/data --seed $S --eval-every 250
  T=$(final $O/run-random)
  echo "seed $S: scratch final $T"
  for M in ligo25 $METHODS; do walk $O/grown-$M $O/budget/run-$M $S $T 3; done
  for d in $O/budget/run-*; do echo "seed $S $d $(final $d)"; done
done
