#!/usr/bin/env bash
# The 4 × 256 study (pre-registered in tuning/study-w256.md; written before any of its runs). Per seed S, in out-qS
# (git-ignored): source 2 × 128 (small-w128.yaml), grown to 4 × 256 by random (the scratch control), interleaving
# and LiGO-25; scratch trained on target-w256.yaml (phase A's schedule); both grown models budget-walked from 1,000
# steps on budget-walk.sh's grid. SECONDARY=1 adds stacking, net2net and zero (grown and walked the same way).
# Run from experiments/growth: SEEDS="4 5 6" bash tuning/study-w256.sh. A rerun skips finished runs and resumes
# interrupted ones.
# ONLY="stack net2net zero" grows and walks just those methods (no scratch, interleaving or LiGO-25 runs); scratch's
# final loss, the walk's target, is then read from TARGETS (a `ligo compare` report's compare.json holding seed S's
# scratch run, e.g. report-budget-w256/compare.json) when out-qS/run-random is absent: the secondary extension on a
# machine that no longer holds the primary runs. The source is retrained (bit for bit on the same ISA path; any
# LIGO_THREADS since 2026-12-07, 2 threads before) and its final loss is printed beside the target, to be checked
# against the source loss in study-w256.md's log.
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
TARGET_CFG=target-w256.yaml WIDTH=256
[ -f $TARGET_CFG ] || { echo "missing $TARGET_CFG (phase A's schedule)" >&2; exit 1; }
source tuning/budget-walk.sh
METHODS="interleave"; [ "${SECONDARY:-0}" = 1 ] && METHODS="interleave stack net2net zero"
recorded() {  # recorded SEED: scratch's final validation loss of that seed in $TARGETS
  node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const r=j.runs.find(r=>r.label===j.baseline.label&&r.train_seed===+process.argv[2]);if(!r){console.error(`no scratch run of seed ${process.argv[2]} in ${process.argv[1]}`);process.exit(1)}console.log(r.charged[r.charged.length-1].val_loss)' "$TARGETS" "$1"
}
grow_fixed() {  # grow_fixed METHOD: the seed's source grown by a fixed operator (or random), unless already grown
  [ -f $O/grown-$1/config.json ] || $LIGO grow $O/small --width $WIDTH --depth 4 --method $1 --data $O/data --seed $S -o $O/grown-$1 --force
}
for S in ${SEEDS:?set SEEDS}; do
  O=out-q$S
  # Brown, prepared once (deterministic: the same bytes the study used, which copied out-g15/data)
  [ -f $O/data/meta.json ] || $LIGO data prepare --corpus brown -o $O/data --force
  ensure $O/small 1500 --config small-w128.yaml --data $O/data --seed $S
  if [ -n "${ONLY:-}" ]; then
    for M in $ONLY; do grow_fixed $M; done
    if [ -f $O/run-random/metrics.jsonl ]; then T=$(final $O/run-random); else T=$(recorded $S); fi
    WALK=$ONLY
  else
    for M in random $METHODS; do grow_fixed $M; done
    grow_ligo $O/grown-ligo25 $S 25 3
    ensure $O/run-random 1750 $O/grown-random --config $TARGET_CFG --data $O/data --seed $S --eval-every 250
    T=$(final $O/run-random)
    WALK="ligo25 $METHODS"
  fi
  echo "seed $S: scratch final $T (source $(final $O/small))"
  for M in $WALK; do walk $O/grown-$M $O/budget/run-$M $S $T 3; done
  for d in $O/budget/run-*; do echo "seed $S $d $(final $d)"; done
done
