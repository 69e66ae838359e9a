// The decision table of tuning/confirm2-op25.sh: LiGO-25's % FLOPs saved (budget-matched) minus interleaving's, paired
// by seed. Seeds 1–14's differences are read from the committed reports (their run directories are gone); the new
// seeds' come from `ligo compare --budgets --seeds --paired interleave` over their runs, which also writes the new
// seeds' report. This script only gathers the differences and computes the intervals the header fixed in advance.
// Run from experiments/growth after the runs, naming the new seeds that finished:
//   node tuning/confirm2-op25.mjs 15 16 17 > tuning/confirm2-op25.md
// With --final (tuning/confirm2-op25-final.md, fixed before seeds 17+ ran): seeds 15–16 come from the committed
// report-budget-confirm2/compare.json, the named new seeds' report goes to report-budget-confirm3/, and the primary
// verdict is the 4th look's Pocock 98.18% interval:
//   node tuning/confirm2-op25.mjs --final 17 18 > tuning/confirm2-op25-final-table.md
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'

import {tInterval, tQuantile} from '../../../dist/report/stats.js'

const LIGO = new URL('../../../bin/run.js', import.meta.url).pathname
const FINAL = process.argv[2] === '--final'
const NEW = process.argv.slice(FINAL ? 3 : 2)
if (NEW.length === 0) throw new Error('name the new seeds that finished, e.g. `node tuning/confirm2-op25.mjs 15 16 17`')
const OUT_DIR = FINAL ? 'report-budget-confirm3' : 'report-budget-confirm2'
const LABEL = 'ligo-op25'

/** seed number → LiGO-25 minus interleaving (fraction of scratch's FLOPs) from a committed compare.json. */
function committed(file) {
  const j = JSON.parse(fs.readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'))
  if (j.paired?.versus !== 'interleave') throw new Error(`${file}: not paired against interleave`)
  const row = j.paired.rows.find((r) => r.label === LABEL)
  if (!row) throw new Error(`${file}: no ${LABEL} row`)
  return new Map(row.diffs.map((d) => [d.seed.replace(/^seed/, ''), d.diff]))
}
const old = new Map([
  ...committed('report-budget-seeds/compare.json'),
  ...committed('report-budget-confirm/compare.json'),
  ...(FINAL ? committed('report-budget-confirm2/compare.json') : []),
])
const EXT = FINAL ? ['15', '16'] : [] // the extension's seeds already read out, entering through their committed diffs
for (const s of EXT) if (!old.has(s)) throw new Error(`seed ${s}: not in report-budget-confirm2/compare.json`)

const ls = (dir, prefix) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith(prefix)).map((d) => `${dir}/${d}`) : [])
const runs = [], labels = []
for (const s of NEW) {
  const o = `out-g${s}`, il = ls(`${o}/budget`, 'run-interleave-'), op = ls(`${o}/op25`, 'run-ligo-')
  if (il.length === 0 || op.length === 0) throw new Error(`${o}: no interleaving or LiGO-25 budget runs`)
  runs.push(`${o}/run-random`, ...il, ...op)
  labels.push(...op.map((d) => `--label=${LABEL}=${d}`))
}
const args = ['compare', ...runs, ...labels, '--budgets', '--seeds', '--paired', 'interleave', '-o', OUT_DIR, '--force', '--json']
const j = JSON.parse(execFileSync(process.execPath, [LIGO, ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}))
const row = j.paired?.rows.find((r) => r.label === LABEL)
const fresh = new Map((row?.diffs ?? []).map((d) => [d.seed.replace(/^seed/, ''), d.diff]))
for (const s of NEW) if (!fresh.has(s)) throw new Error(`seed ${s}: no paired difference (a method did not reach scratch's final loss?)`)

// Student t from the library (src/report/stats.ts, built to dist/ by `npm ci`, as bin/run.js above needs).
// Check it against the printed t table before trusting anything else.
for (const [df, q] of [[5, 2.5706], [11, 2.201], [19, 2.093]]) if (Math.abs(tQuantile(0.975, df) - q) > 1e-3) throw new Error(`t quantile off at df ${df}`)

const POCOCK = 0.0294 // two-sided nominal level, second of two looks, overall 5%
const POCOCK4 = 0.0182 // the same, fourth of four looks (--final)
function summary(seeds, all) {
  const d = seeds.map((s) => {
    const v = all.get(s)
    if (v === undefined) throw new Error(`seed ${s}: no difference`)
    return v
  })
  const n = d.length, mean = d.reduce((a, b) => a + b, 0) / n
  const ci = (alpha) => {
    const i = tInterval(d, 1 - alpha)
    return i && [i.lo, i.hi]
  }
  const sd = tInterval(d, 0.95)?.sd
  return {n, mean, sd, ci95: ci(0.05), ciP: ci(POCOCK), ciP4: ci(POCOCK4), ahead: d.filter((x) => x > 0).length, behind: d.filter((x) => x < 0).length}
}
const all = new Map([...old, ...fresh])
const pts = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`
const BASE = ['2', '3', '4', '6', '7', '8', '9', '10', '11', '12', '13', '14']
const SETS = [
  [`primary: seeds 2, 3, 4, 6, 7, 8, 9–14${FINAL ? ', 15, 16' : ''} and the new seeds`, [...BASE, ...EXT, ...NEW], true],
  [FINAL ? 'the extension alone (15, 16 and the new seeds)' : 'new seeds only', [...EXT, ...NEW], false],
  ['every seed (the pick seeds 1 and 5 included)', ['1', '5', ...BASE, ...EXT, ...NEW], false],
]
const span = ([lo, hi]) => `${pts(lo)} to ${pts(hi)}`
console.log(`LiGO-25 minus interleaving, % FLOPs saved (points), paired by seed. New seeds: ${NEW.join(', ')}.\n`)
console.log(`| seed set | seeds | mean | sd | 95% interval | 97.06% interval (Pocock, 2nd look) |${FINAL ? ' 98.18% interval (Pocock, 4th look) |' : ''} ahead / behind | beats it? |`)
console.log(`|---|---:|---:|---:|---:|---:|${FINAL ? '---:|' : ''}---:|---|`)
for (const [name, seeds, primary] of SETS) {
  const r = summary(seeds, all)
  if (r.n < 2) {
    console.log(`| ${name} | ${r.n} | ${pts(r.mean)} | needs two seeds | | |${FINAL ? ' |' : ''} ${r.ahead} / ${r.behind} | |`)
    continue
  }
  const [bar, lvl] = FINAL ? [r.ciP4, '98.18%'] : [r.ciP, '97.06%']
  const verdict = primary ? (bar[0] > 0 ? `yes (${lvl} above zero)` : `no (${lvl} includes zero)`) : r.ci95[0] > 0 ? '95% above zero' : '95% includes zero'
  console.log(`| ${name} | ${r.n} | ${pts(r.mean)} | ${(100 * r.sd).toFixed(2)} | ${span(r.ci95)} | ${span(r.ciP)} |${FINAL ? ` ${span(r.ciP4)} |` : ''} ${r.ahead} / ${r.behind} | ${verdict} |`)
}
console.log(`\nPer new seed (points): ${NEW.map((s) => `${s}: ${pts(fresh.get(s))}`).join(', ')}. New seeds' report: ${OUT_DIR}/.`)
