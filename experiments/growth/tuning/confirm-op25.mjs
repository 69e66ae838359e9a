// The decision table of tuning/confirm-op25.sh: LiGO-25's % FLOPs saved (budget-matched) minus stacking's and minus
// interleaving's, paired by seed, over the three seed sets its header fixed in advance. Every number comes from
// `ligo compare --budgets --seeds --paired REF --json`; this script only picks the runs and lays out the table.
// Run from experiments/growth after the confirmatory runs, naming the new seeds that finished:
//   node tuning/confirm-op25.mjs 9 10 11 12 13 14 > tuning/confirm-op25.md
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const LIGO = new URL('../../../bin/run.js', import.meta.url).pathname
const NEW = process.argv.slice(2)
if (NEW.length === 0) throw new Error('name the new seeds that finished, e.g. `node tuning/confirm-op25.mjs 9 10 11`')
const SETS = [
  ['primary: seeds run after LiGO-25 was picked (2, 3, 4, 6, 7, 8) and the new seeds', ['2', '3', '4', '6', '7', '8', ...NEW]],
  ['new seeds only', NEW],
  ['every seed (the pick seeds 1 and 5 included)', ['1', '2', '3', '4', '5', '6', '7', '8', ...NEW]],
]
const REFS = ['stack', 'interleave']
const scratch = (s) => (['3', '4', '5', '6'].includes(s) ? `out-s${s}/run-random` : `out-g${s}/run-random`)
const ls = (dir, prefix) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith(prefix)).map((d) => `${dir}/${d}`) : [])
/** One seed's runs and labels: scratch, stacking's and interleaving's budget runs (seeds 1–2 also their 1,750-step runs, as in
 * report-budget-seeds), LiGO-25's budget runs labelled ligo-op25. */
function seedArgs(s) {
  const o = `out-g${s}`
  const base = REFS.flatMap((m) => [...ls(`${o}/budget`, `run-${m}-`), ...(['1', '2'].includes(s) ? [`${o}/run-${m}`] : [])])
  const op25 = ls(`${o}/op25`, 'run-ligo-')
  if (op25.length === 0 || base.length === 0) throw new Error(`${o}: no LiGO-25 or baseline budget runs yet`)
  return {runs: [scratch(s), ...base, ...op25], labels: op25.map((d) => `--label=ligo-op25=${d}`)}
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-confirm-'))
const pts = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`
console.log('| seed set | seeds | LiGO-25 minus | mean (points) | sd | 95% interval | ahead / behind | beats it? |')
console.log('|---|---:|---|---:|---:|---:|---:|---|')
for (const [name, seeds] of SETS) {
  const per = seeds.map(seedArgs) // the runs are the same for both references
  for (const ref of REFS) {
    const args = ['compare', ...per.flatMap((a) => a.runs), ...per.flatMap((a) => a.labels), '--budgets', '--seeds', '--paired', ref, '-o', `${tmp}/${ref}`, '--force', '--json']
    const j = JSON.parse(execFileSync(process.execPath, [LIGO, ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}))
    const row = j.paired?.rows.find((r) => r.label === 'ligo-op25')
    if (!row || row.diffs.length < 2) {
      console.log(`| ${name} | ${seeds.length} | ${ref} | needs two seeds | | | | |`)
      continue
    }
    const [lo, hi] = row.ci95
    console.log(`| ${name} | ${row.diffs.length} | ${ref} | ${pts(row.mean)} | ${(100 * row.sd).toFixed(2)} | ${pts(lo)} to ${pts(hi)} | ${row.ahead} / ${row.behind} | ${lo > 0 ? 'yes' : 'no'} |`)
  }
}
fs.rmSync(tmp, {recursive: true, force: true})
