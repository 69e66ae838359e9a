/** `ligo compare --from REPORT`: runs recorded in an earlier report's compare.json compare exactly as their directories did. */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {FileFormatError, InputError} from '../../src/errors.js'
import {mergeBudgets} from '../../src/report/budgets.js'
import {type Comparison, type RunData, compareRuns, markdownTable, runFromParts} from '../../src/report/compare.js'
import {loadReportRuns, reportRuns, withReportRuns} from '../../src/report/from-report.js'
import type {MetricsRow} from '../../src/train/trainer.js'
import {tmpDir} from '../helpers.js'

/** A run of `steps` steps (1 GFLOP, 2 s per step), its final validation loss `final`, grown by `method` (seed `seed`). */
function run(dir: string, steps: number, final: number, method: string, seed: number, growthFlops = 0): RunData {
  const rows: MetricsRow[] = []
  for (let s = 10; s <= steps; s += 10)
    rows.push({step: s, tokens: s * 100, flops: s * 1e9, loss: 9, lr: 1e-3, grad_norm: 1, tokens_per_s: 50, elapsed_s: s * 2, ...(s === steps ? {val_loss: final} : {})})
  return runFromParts({
    dir,
    metricsFile: `${dir}/metrics.jsonl`,
    rows,
    runProvenance: {init_from: `${dir}-init`},
    initProvenance: {growth: {method, flops: growthFlops, elapsed_s: 1}, grown_from: 'small/checkpoint'},
    trainSeed: seed,
    small: method === 'random' ? undefined : {dir: 'small', flops: 20e9, elapsed_s: 10, source: 'provenance'},
  })
}

/** Seed s: scratch 1000 steps; ligo and stack budgets 400 / 700 / 1000 with seed-dependent final losses. */
function seedRuns(s: number): RunData[] {
  const o = `out-${s}`
  const d = 0.01 * s
  return [
    run(`${o}/run-random`, 1000, 2.0 + d, 'random', s),
    ...[[400, 2.3], [700, 2.05], [1000, 1.9]].map(([n, l]) => run(`${o}/budget/run-ligo-${n}`, n, l + d, 'ligo', s, 30e9)),
    ...[[400, 2.32], [700, 2.06], [1000, 1.92]].map(([n, l]) => run(`${o}/budget/run-stack-${n}`, n, l + d * 1.3, 'stack', s)),
  ]
}

const OPTS = {seeds: true, budgets: true, paired: 'stack', level: 0.975}
/** What the report file holds: the comparison as JSON. */
const asFile = (c: Comparison) => JSON.parse(JSON.stringify(c)) as unknown

describe('compare --from', () => {
  const all = [1, 2, 3, 4].flatMap(seedRuns)
  const direct = compareRuns(mergeBudgets(all), OPTS)

  it('re-reads a report into the same comparison: every number, the paired rows and the table', () => {
    const rec = reportRuns(asFile(direct), 'r/compare.json')
    expect(rec.budgets).toBe(true)
    expect(rec.runs).toHaveLength(12)
    expect(rec.runs[0].from_report).toBe('r/compare.json')
    const again = compareRuns(withReportRuns([], [{file: 'r/compare.json', ...rec}], true).runs, OPTS)
    expect(again.methods).toEqual(direct.methods)
    expect(again.paired).toEqual(direct.paired)
    expect(markdownTable(again)).toBe(markdownTable(direct))
  })

  it('extends a recorded study by new seeds: the same result as comparing every run directory', () => {
    // seeds 1–2 recorded (all methods), seeds 3–4: scratch and ligo recorded in a second report, stack from directories
    const first = compareRuns(mergeBudgets([1, 2].flatMap(seedRuns)), OPTS)
    const primary = compareRuns(mergeBudgets([1, 2, 3, 4].flatMap(seedRuns).filter((r) => !r.dir.includes('stack'))), {seeds: true, budgets: true})
    const fresh = [3, 4].flatMap(seedRuns).filter((r) => r.dir.includes('stack'))
    const reports = [{file: 'first.json', ...reportRuns(asFile(first), 'first.json')}, {file: 'primary.json', ...reportRuns(asFile(primary), 'primary.json')}]
    const {runs, notes} = withReportRuns(mergeBudgets(fresh), reports, true)
    // seeds 1–2 of random and ligo are in both reports: counted once
    expect(runs).toHaveLength(12)
    expect(notes).toEqual([
      '6 runs read from first.json (recorded results; their run directories were not read)',
      '4 runs read from primary.json (recorded results; their run directories were not read), 4 already given by an earlier --from',
    ])
    const c = compareRuns(runs, OPTS)
    // compare.json says where each recorded run came from; runs read from directories carry no such field
    expect(c.runs.map((r) => (r as {from_report?: string}).from_report ?? 'dir').sort()).toEqual([...Array(6).fill('first.json'), ...Array(2).fill('dir'), ...Array(4).fill('primary.json')].sort())
    // the same numbers per method and seed (the order of methods and seeds follows the order the runs came in)
    const byLabel = (x: Comparison) =>
      Object.fromEntries(x.methods.map((m) => [m.label, Object.fromEntries(m.runs.map((r) => [r.seed, [r.flops_saved, r.target_loss, r.baseline_dir]]))]))
    expect(byLabel(c)).toEqual(byLabel(direct))
    const sorted = (x: Comparison) => x.paired!.rows.map((r) => ({...r, diffs: [...r.diffs].sort((a, b) => a.seed.localeCompare(b.seed))}))
    expect(sorted(c)).toEqual(sorted(direct))
    expect(c.paired!.rows.find((r) => r.label === 'ligo')!.diffs).toHaveLength(4)
  })

  it('refuses a report of the other kind, a method and seed given twice, and records that disagree', () => {
    const rec = {file: 'r.json', ...reportRuns(asFile(direct), 'r.json')}
    expect(() => withReportRuns([], [rec], false)).toThrow(/made with --budgets.*use it with --budgets/)
    const twice = mergeBudgets(seedRuns(2).filter((r) => r.dir.includes('stack')))
    expect(() => withReportRuns(twice, [rec], true)).toThrow(InputError)
    expect(() => withReportRuns(twice, [rec], true)).toThrow(/'stack' seed 2 .*out-2\/budget\/run-stack-1000.*also gives/)
    const other = asFile(direct) as {runs: {label: string; train_seed: number; points: {val_loss: number}[]}[]}
    other.runs.find((r) => r.label === 'ligo' && r.train_seed === 3)!.points[0].val_loss += 0.01
    const changed = {file: 's.json', ...reportRuns(other, 's.json')}
    expect(() => withReportRuns([], [rec, changed], true)).toThrow(/'ligo' seed 3 is recorded differently in r.json .* and s.json/)
  })

  it('names the file and the run of a malformed record', () => {
    expect(() => reportRuns({runs: []}, 'x.json')).toThrow(FileFormatError)
    expect(() => reportRuns({runs: [], budgets: true}, 'x.json')).toThrow(/holds no runs/)
    const bad = asFile(direct) as {runs: Record<string, unknown>[]}
    bad.runs[2].points = [{step: 10, flops: 'many'}]
    expect(() => reportRuns(bad, 'x.json')).toThrow(/x\.json: runs\[2\].*points\[0\] needs numeric/)
    const noKind = asFile(direct) as {runs: Record<string, unknown>[]}
    noKind.runs[0].kind = 'magic'
    expect(() => reportRuns(noKind, 'x.json')).toThrow(/runs\[0\].*"kind" must be one of/)
  })

  it('reads a report directory or its compare.json, and says what it expected of a path that is neither', () => {
    const dir = tmpDir('from-report')
    fs.writeFileSync(path.join(dir, 'compare.json'), JSON.stringify(direct))
    expect(loadReportRuns(dir).runs).toHaveLength(12)
    expect(loadReportRuns(path.join(dir, 'compare.json')).file).toBe(path.join(dir, 'compare.json'))
    expect(() => loadReportRuns(path.join(dir, 'nope'))).toThrow(/--from .*nope: no such file; give a report directory/)
    fs.writeFileSync(path.join(dir, 'table.md'), '| not json |')
    expect(() => loadReportRuns(path.join(dir, 'table.md'))).toThrow(/table\.md.*is not JSON/)
  })
})
