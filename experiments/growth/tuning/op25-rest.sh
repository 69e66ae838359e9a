#!/usr/bin/env bash
# LiGO with 25 operator steps (op25.sh) on the four seeds it has not run on, 2, 3, 4 and 6, so that every variant
# in the README's table has all eight seeds. Written, and the variant fixed (op25.sh's flags), before any of these
# runs existed (2026-11-23). Budgets: the ones every other method has on that seed (report-budget-seedS/NOTE.md),
# so the variant is interpolated between the same step counts as the methods it is compared with; seed 4 adds
# 1,400 only if 1,000 misses the target, as for the other methods there. Scratch: out-g2/run-random, out-sS.
# Run from experiments/growth; ~25 min on the 2-core machine. A rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # grow_ligo, run, final, below
declare -A BUDGETS=([2]="500 800 1100 1400" [3]="1000 1400" [4]="700 1000" [6]="550 700 1000")
declare -A SCRATCH=([2]=out-g2/run-random [3]=out-s3/run-random [4]=out-s4/run-random [6]=out-s6/run-random)
for S in 2 3 4 6; do
  O=out-g$S; grow_ligo $O/op25/grown-ligo $S 25 3
  for B in ${BUDGETS[$S]}; do run $O/op25/run-ligo-$B $O/op25/grown-ligo $B $S; done
  if [ $S = 4 ] && ! below "$(final $O/op25/run-ligo-1000)" "$(final ${SCRATCH[4]})"; then
    run $O/op25/run-ligo-1400 $O/op25/grown-ligo 1400 $S
  fi
done
