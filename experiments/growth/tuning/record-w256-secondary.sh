#!/usr/bin/env bash
# Records finished seeds of the 4 × 256 study's secondary extension (stacking, net2net, zero budget runs of
# study-w256.sh) in report-budget-w256-secondary-runs/compare.json, so that the final look can read them with
# `ligo compare --from` after this machine's run directories are gone. Each call adds SEEDS to what is recorded
# (scratch's targets come from report-budget-w256, the primary look's report). A record, not a look: no --paired.
# Run from experiments/growth once a seed's walks have all finished: SEEDS="9 10" bash tuning/record-w256-secondary.sh
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
R=report-budget-w256-secondary-runs
FROM=(--from report-budget-w256); [ -f $R/compare.json ] && FROM+=(--from $R)
DIRS=()
for S in ${SEEDS:?set SEEDS}; do
  for M in stack net2net zero; do
    set -- out-q$S/budget/run-$M-*
    [ -d "$1" ] || { echo "seed $S: no $M budget runs in out-q$S/budget" >&2; exit 2; }
    DIRS+=("$@")
  done
done
$LIGO compare "${FROM[@]}" "${DIRS[@]}" --budgets --seeds -o $R --force > /dev/null
rm -f $R/*.svg $R/*.png   # the record is compare.json (and table.md); the final look draws the plots
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]+"/compare.json","utf8"));for(const m of ["stack","net2net","zero"])console.log(m, "seeds recorded:", j.runs.filter(r=>r.label===m).map(r=>r.train_seed).sort((a,b)=>a-b).join(" "))' $R
