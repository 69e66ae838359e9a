#!/usr/bin/env bash
# Re-tuning the common target schedule at 4 × 256 (written before any of its runs), phase A of the 4 × 256 study
# (tuning/study-w256.md). The scale pilot's scratch run (seed 1, out-p1) ended at 1.8352 with µTransfer's
# η 1.6e-2 and at 1.8092 with 8e-3 (out-p1/eta): the baseline is under-tuned at that size, and a growth method
# measured against an under-tuned scratch run saves FLOPs it would not against a tuned one.
# Seed 1 only (a pilot seed; the study uses fresh seeds), the scratch run only, target.yaml with --lr/--warmup
# overridden, evaluated every 250 steps (does not change training). Fixed rule:
#   1. η ∈ {4e-3, 8e-3, 1.6e-2} at warmup 300 (8e-3 and 1.6e-2 exist); if 4e-3 is the best, also 2e-3.
#   2. At the best η of step 1: warmup 150 and 600.
#   3. The study's schedule is the cell with the lowest final validation loss among those run.
# ~11 min per run on the 2-core AVX-512 machine. Run from experiments/growth; a rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
O=out-p1
source tuning/budget-walk.sh   # final, ensure
cell() {  # cell LR WARMUP → run dir (trained if missing, resumed if stopped early)
  local D=$O/eta/run-random-lr$1-w$2
  [ "$1-$2" = "0.016-300" ] && D=$O/run-random
  [ "$1-$2" = "0.008-300" ] && D=$O/eta/run-random-lr0.008
  ensure $D 1750 $O/grown-random --config target.yaml --data $O/data --seed 1 --eval-every 250 --lr $1 --warmup $2 >&2
  echo $D
}
best() {  # best "LR WARMUP" ... → the pair with the lowest final loss
  local b="" bl=99 p l
  for p in "$@"; do l=$(final $(cell $p)); echo "cell $p: $l" >&2
    node -e 'process.exit(+process.argv[1] < +process.argv[2] ? 0 : 1)' $l $bl && { b=$p; bl=$l; }; done
  echo $b
}
B=$(best "0.004 300" "0.008 300" "0.016 300")
[ "$B" = "0.004 300" ] && B=$(best "0.002 300" "0.004 300")
set -- $B
C=$(best "$1 150" "$1 300" "$1 600")
echo "chosen: lr warmup = $C"
