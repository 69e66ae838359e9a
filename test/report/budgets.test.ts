/** `ligo compare --budgets`: budget variants merge into a curve of final losses, and the crossing is read off it. */
import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {mergeBudgets} from '../../src/report/budgets.js'
import {type RunData, compareRuns, markdownTable, runFromParts} from '../../src/report/compare.js'
import type {MetricsRow} from '../../src/train/trainer.js'

/** A run of `steps` steps (1 GFLOP, 2 s per step), validation losses at the given steps. */
function run(dir: string, steps: number, val: Record<number, number>, o: {method?: string; seed?: number; growthFlops?: number} = {}): RunData {
  const rows: MetricsRow[] = []
  for (let s = 10; s <= steps; s += 10)
    rows.push({step: s, tokens: s * 100, flops: s * 1e9, loss: 9, lr: 1e-3, grad_norm: 1, tokens_per_s: 50, elapsed_s: s * 2, ...(val[s] === undefined ? {} : {val_loss: val[s]})})
  const method = o.method ?? 'random'
  return runFromParts({
    dir,
    metricsFile: `${dir}/metrics.jsonl`,
    rows,
    runProvenance: {init_from: `${dir}-init`},
    initProvenance: {growth: {method, flops: o.growthFlops ?? 0, elapsed_s: 0}},
    trainSeed: o.seed ?? 1,
  })
}

describe('budget-matched comparison', () => {
  // Scratch: 1000 steps, final 3.0. LiGO's 1000-step run is mid-schedule (3.1) at step 500, so the along-run
  // crossing comes late; its 300- and 500-step runs end, fully decayed, at 3.4 and 2.9.
  const scratch = run('s1/run-random', 1000, {500: 3.5, 1000: 3.0})
  const full = run('s1/run-ligo', 1000, {500: 3.1, 1000: 2.5}, {method: 'ligo', growthFlops: 50e9})
  const b300 = run('s1/budget/run-ligo-300', 300, {300: 3.4}, {method: 'ligo', growthFlops: 50e9})
  const b500 = run('s1/budget/run-ligo-500', 500, {250: 3.6, 500: 2.9}, {method: 'ligo', growthFlops: 50e9})

  it("merges one label and seed into a curve of each run's final validation point, in FLOPs order", () => {
    const merged = mergeBudgets([scratch, b500, full, b300])
    expect(merged.map((r) => r.label)).toEqual(['random', 'ligo'])
    const ligo = merged[1]
    expect(ligo.dir).toBe('s1/run-ligo') // the longest run: seed keys by parent directory keep working
    expect(ligo.points.map((p) => [p.step, p.val_loss])).toEqual([[300, 3.4], [500, 2.9], [1000, 2.5]])
    expect(ligo.budgets.map((b) => b.dir)).toEqual(['s1/budget/run-ligo-300', 's1/budget/run-ligo-500', 's1/run-ligo'])
    expect(ligo.last.step).toBe(1000)
  })

  it('reads FLOPs to target off the budget curve (operator charged), where the along-run reading is later', () => {
    const along = compareRuns([scratch, full]).methods[1].runs[0]
    // along the run: between step 500 (3.1) and 1000 (2.5): 500 + 1/6·500 steps, + the operator's 50 GFLOP
    expect(along.flops_to_target).toBeCloseTo((500 + 500 / 6) * 1e9 + 50e9, -3)
    const c = compareRuns(mergeBudgets([scratch, full, b300, b500]), {budgets: true})
    expect(c.budgets).toBe(true)
    const r = c.methods[1].runs[0]
    // between the 300-step (3.4) and 500-step (2.9) budgets: 300 + 0.8·200 = 460 steps, + 50 GFLOP
    expect(r.flops_to_target).toBeCloseTo(510e9, -3)
    expect(r.flops_saved).toBeCloseTo(1 - 510 / 1000, 12)
    expect(r.step).toBe(500)
    expect(c.accounting).toContain('--budgets')
    expect(markdownTable(c)).toContain('Budget-matched')
  })

  it('pairs seeds: each seed its own budgets and its own baseline', () => {
    const s2 = [
      run('s2/run-random', 1000, {1000: 2.8}, {seed: 2}),
      run('s2/run-ligo', 1000, {1000: 2.6}, {method: 'ligo', seed: 2}),
      run('s2/budget/run-ligo-500', 500, {500: 3.0}, {method: 'ligo', seed: 2}),
    ]
    const b1 = [run('s1/run-ligo', 1000, {1000: 2.5}, {method: 'ligo'}), run('s1/budget/run-ligo-500', 500, {500: 2.9}, {method: 'ligo'})]
    const c = compareRuns(mergeBudgets([scratch, ...b1, ...s2]), {seeds: true, budgets: true})
    const ligo = c.methods.find((m) => m.label === 'ligo')!
    expect(ligo.runs.map((r) => [r.seed, r.baseline_dir])).toEqual([['s1', 's1/run-random'], ['s2', 's2/run-random']])
    // seed 2: target 2.8 between budgets 500 (3.0) and 1000 (2.6): 750 steps
    expect(ligo.runs[1].flops_to_target).toBeCloseTo(750e9, -3)
  })

  it('pairs by training seed when directory names do not tell the seeds apart', () => {
    const base = [scratch, run('s2/run-random', 1000, {1000: 2.8}, {seed: 2})]
    const extra = [run('extra/run-ligo-a', 500, {500: 2.9}, {method: 'ligo'}), run('extra/run-ligo-b', 500, {500: 2.7}, {method: 'ligo', seed: 2})]
    const c = compareRuns([...base, ...extra], {seeds: true})
    const ligo = c.methods.find((m) => m.label === 'ligo')!
    expect(ligo.runs.map((r) => [r.seed, r.baseline_dir])).toEqual([['seed1', 's1/run-random'], ['seed2', 's2/run-random']])
  })

  it('refuses unfinished budget runs, a budget given twice, and mixed operator costs, naming the runs', () => {
    const unfinished = run('s1/budget/run-ligo-700', 700, {500: 3.0}, {method: 'ligo', growthFlops: 50e9})
    expect(() => mergeBudgets([full, unfinished])).toThrow(InputError)
    expect(() => mergeBudgets([full, unfinished])).toThrow(/run-ligo-700.*step 500.*step 700/)
    const twice = run('s1/other/run-ligo-500', 500, {500: 2.95}, {method: 'ligo', growthFlops: 50e9})
    expect(() => mergeBudgets([b500, twice])).toThrow(/both train for 500 steps/)
    const cheaper = run('s1/budget/run-ligo-400', 400, {400: 3.1}, {method: 'ligo', growthFlops: 10e9})
    expect(() => mergeBudgets([full, cheaper])).toThrow(/different operator costs/)
  })
})
