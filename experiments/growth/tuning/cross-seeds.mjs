// Every growth method's FLOPs saved against every from-scratch seed's final loss (scratch's spread, made visible).
// Run from experiments/growth after `make SEED=1 OUT=out-g1`, `make SEED=2 OUT=out-g2` and the scratch runs
// out-s{3..6}/run-random (tuning/README.md):  node tuning/cross-seeds.mjs > tuning/cross-seeds.md
// Budget-matched (`ligo compare --budgets`, after `make budgets` for both grown seeds, README "Growth"):
//   node tuning/cross-seeds.mjs --budgets > tuning/cross-seeds-budget.md
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const LIGO = new URL('../../../bin/run.js', import.meta.url).pathname
const METHODS = ['ligo', 'stack', 'interleave', 'net2net', 'zero']
const SCRATCH = [['1', 'out-g1/run-random'], ['2', 'out-g2/run-random'], ...[3, 4, 5, 6].map((s) => [`${s}`, `out-s${s}/run-random`])]
const GROWN = ['1', '2']
const BUDGETS = process.argv.includes('--budgets')
/** The budget runs of method m grown with seed g (out-gG/budget/run-M-STEPS). */
const budgetRuns = (g, m) => {
  const dir = `out-g${g}/budget`
  const runs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith(`run-${m}-`)).map((d) => `${dir}/${d}`) : []
  if (runs.length === 0) throw new Error(`${dir}: no budget runs of ${m}; run \`make budgets SEED=${g} OUT=out-g${g} BUDGETS=...\` first`)
  return runs
}
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-cross-')) // the plots of each pair; removed at the end

const saved = {} // method → scratch seed → [grown seed 1, grown seed 2]
const finals = {}
for (const [s, scratch] of SCRATCH) {
  for (const g of GROWN) {
    const runs = METHODS.flatMap((m) => [`out-g${g}/run-${m}`, ...(BUDGETS ? budgetRuns(g, m) : [])])
    const args = ['compare', scratch, ...runs, '-o', `${out}/${s}-${g}`, '--force', '--json', ...(BUDGETS ? ['--budgets'] : [])]
    const j = JSON.parse(execFileSync(process.execPath, [LIGO, ...args], {encoding: 'utf8'}))
    finals[s] = j.baseline.target_loss.mean
    for (const m of j.methods) {
      if (m.is_baseline) continue
      ;((saved[m.label] ??= {})[s] ??= [])[Number(g) - 1] = m.runs[0].reached ? m.runs[0].flops_saved : null
    }
  }
}
fs.rmSync(out, {recursive: true, force: true})
const pct = (x) => (x === null ? 'not reached' : `${(100 * x).toFixed(1)}%`)
const seeds = SCRATCH.map(([s]) => s)
console.log(`| method | ${seeds.map((s) => `vs scratch seed ${s} (${finals[s].toFixed(4)})`).join(' | ')} | mean of ${2 * seeds.length} |`)
console.log(`|---|${seeds.map(() => '---').join('|')}|---|`)
for (const m of METHODS) {
  const all = seeds.flatMap((s) => saved[m][s])
  const mean = all.includes(null) ? null : all.reduce((a, b) => a + b, 0) / all.length
  console.log(`| ${m} | ${seeds.map((s) => saved[m][s].map(pct).join(' / ')).join(' | ')} | ${pct(mean)} |`)
}
