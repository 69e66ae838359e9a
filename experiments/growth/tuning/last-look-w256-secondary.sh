#!/usr/bin/env bash
# The 4 × 256 study's second and last secondary look (study-w256.md, registered before its runs): LiGO-25 beats
# baseline X (stacking, net2net, zero) iff the 97.5% Student-t interval of LiGO-25's % FLOPs saved minus X's, paired
# by seed over seeds 4–15, lies above 0. Reads only committed records (no run directories):
#   report-budget-w256                  primary look: random, interleave, ligo, seeds 4–15
#   report-budget-w256-secondary        first secondary look: stack, net2net, zero, seeds 4–7
#   report-budget-w256-secondary-runs   the extension's record (record-w256-secondary.sh): seeds 8–15
# Refuses to look before every method has all twelve seeds recorded (one look, no peeking at a partial set).
# Writes report-budget-w256-secondary-final/ (table, plots, paired vs stack) with paired-net2net.md, paired-zero.md and
# verdict.json beside it, and prints the verdict. Run from experiments/growth: bash tuning/last-look-w256-secondary.sh
# (REPORTS, SEEDS and OUT override the inputs, the seeds required and the output, e.g. to re-derive the first look:
# REPORTS=report-budget-w256-secondary SEEDS="4 5 6 7" OUT=/tmp/first-look bash tuning/last-look-w256-secondary.sh)
set -euo pipefail
LIGO=${LIGO:-"node ../../bin/run.js"}
OUT=${OUT:-report-budget-w256-secondary-final}
REPORTS=${REPORTS:-"report-budget-w256 report-budget-w256-secondary report-budget-w256-secondary-runs"}
export SEEDS=${SEEDS:-"4 5 6 7 8 9 10 11 12 13 14 15"} REPORTS
FROM=(); for R in $REPORTS; do FROM+=(--from "$R"); done
[ -e $OUT ] && { echo "$OUT exists: the last look is taken once (remove it deliberately to retake)" >&2; exit 2; }

node - <<'EOF'
const fs = require("fs");
const want = ["random", "interleave", "ligo", "stack", "net2net", "zero"];
const seeds = new Map(want.map((m) => [m, new Set()]));
const need = process.env.SEEDS.trim().split(/\s+/).map(Number);
for (const r of process.env.REPORTS.trim().split(/\s+/)) {
  for (const run of JSON.parse(fs.readFileSync(`${r}/compare.json`, "utf8")).runs)
    if (seeds.has(run.label)) seeds.get(run.label).add(run.train_seed);
}
let missing = [];
for (const [m, s] of seeds) for (const k of need) if (!s.has(k)) missing.push(`${m} seed ${k}`);
if (missing.length) {
  console.error(`not every seed is recorded yet, so no look: ${missing.join(", ")}`);
  process.exit(2);
}
EOF

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
look() {  # look X: the paired report against X into $TMP/X (its log shown only if it fails)
  $LIGO compare "${FROM[@]}" --budgets --seeds --paired $1 --level 0.975 -o $TMP/$1 > $TMP/$1.log 2>&1 ||
    { cat $TMP/$1.log >&2; exit 1; }
}
look stack
for X in net2net zero; do
  look $X
  # the paired section of table.md: from its heading line to the end
  sed -n '/^Paired by seed against /,$p' $TMP/$X/table.md > $TMP/stack/paired-$X.md
done
node - "$TMP" <<'EOF' > $TMP/stack/verdict.json
const fs = require("fs");
const dir = process.argv[2];
const need = process.env.SEEDS.trim().split(/\s+/).length;
const out = { rule: `LiGO-25 beats X iff the 97.5% interval of (LiGO-25 - X), % FLOPs saved paired by seed (${process.env.SEEDS.trim()}), lies above 0`, versus: {} };
for (const x of ["stack", "net2net", "zero"]) {
  const p = JSON.parse(fs.readFileSync(`${dir}/${x}/compare.json`, "utf8")).paired;
  const row = p.rows.find((r) => r.label === "ligo");
  if (p.level !== 0.975 || !row || row.diffs.length !== need) throw new Error(`${x}: expected a 97.5% paired row for ligo over ${need} seeds`);
  out.versus[x] = { seeds: row.diffs.length, mean: row.mean, ci95: row.ci95, ci975: row.ci, ahead: row.ahead, behind: row.behind, beaten: row.ci[0] > 0 };
}
out.beats_every_secondary = Object.values(out.versus).every((v) => v.beaten);
console.log(JSON.stringify(out, null, 2));
EOF
mv $TMP/stack $OUT
node -e 'const v=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const p=(x)=>(100*x).toFixed(1);for(const[x,r]of Object.entries(v.versus))console.log(`LiGO-25 minus ${x}: ${p(r.mean)} points, 97.5% ${p(r.ci975[0])} to ${p(r.ci975[1])}, ahead ${r.ahead} / behind ${r.behind} -> ${r.beaten?"beaten":"not beaten"}`);console.log("beats every secondary baseline:",v.beats_every_secondary)' $OUT/verdict.json
echo "wrote $OUT/ (table.md, plots, compare.json paired vs stack, paired-net2net.md, paired-zero.md, verdict.json)"
