#!/usr/bin/env bash
# Exploration (not pre-registered): LiGO with the official code's width init, `--width-init rand` (each new
# coordinate a random convex combination of the old ones; the tool's default, `auto`, picks the function-preserving
# copies `fp` when the width doubles). 25 operator steps as LiGO-25, everything else as confirm2-op25.sh: budgets
# by budget-walk.sh's rule against each seed's scratch run. Seeds 17, 18 and 20 of the finished confirmatory
# extension (their source, scratch and interleaving/LiGO-25 runs already exist in out-gS). Run from
# experiments/growth; ~5 min per seed on the 2-core AVX-512 machine. Report: report-budget-randwidth/NOTE.md.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh
for S in ${SEEDS:-17 18 20}; do
  O=out-g$S
  grow_ligo $O/xr/grown-r25 $S 25 3 --width-init rand
  walk $O/xr/grown-r25 $O/xr/run-r25 $S "$(final $O/run-random)"
done
