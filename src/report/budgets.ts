/**
 * Budget-matched comparison (`ligo compare --budgets`): how much compute does a method need to reach the
 * baseline's final loss when it is trained with a full schedule of that length?
 *
 * Reading the crossing off one long run (the default) charges a grown model for being mid-schedule: with a
 * cosine (or any decaying) schedule, the loss at step k of an N-step run is well above what a k-step run with
 * its own decay ends at, so the default understates what a shorter run would save. Here a method is trained
 * several times with the same schedule and different total steps (`ligo train … --steps B`), and its curve
 * is the FINAL validation loss of each of those runs against that run's charged FLOPs. `compareRuns` then
 * works on that curve unchanged: FLOPs to target = the smallest budget that reaches the target, linearly
 * interpolated between the two budgets around it (the smallest budget itself, an upper bound, when it already
 * reaches it); "val loss at scratch budget" = the budget curve at the baseline's FLOPs.
 *
 * Budget variants of one method are the runs with the same label and the same training seed (run.json);
 * each merged curve keeps the longest run's directory (so seed keys by parent directory still pair
 * out-g1/run-ligo with out-g1/run-random). Runs of one group must start from the same operator cost.
 */
import * as path from 'node:path'

import {InputError} from '../errors.js'
import {type RunData, type ValPoint, singlePointNote} from './compare.js'

/** A merged run: its points are the final validation points of its budget runs, in FLOPs order; `budgets` names
 * the run behind each point. */
export type BudgetRun = RunData & {budgets: {dir: string; steps: number}[]}

/** Merges budget variants (same label and training seed) into one run whose curve is their final losses. */
export function mergeBudgets(runs: readonly RunData[]): BudgetRun[] {
  const groups = new Map<string, RunData[]>()
  for (const r of runs) {
    const key = `${r.label}\u0000${r.train_seed ?? path.resolve(r.dir)}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  return [...groups.values()].map((g) => {
    for (const r of g) {
      const lastPoint = r.points.at(-1)!
      if (lastPoint.step !== r.last.step)
        throw new InputError(`${r.dir}: its last validation point is step ${lastPoint.step} but it stopped at step ${r.last.step}; a budget run must end with its final evaluation (finish it with \`npx ligo train --resume ${r.dir}\`)`)
    }
    const flops = new Set(g.map((r) => r.growth.flops))
    if (flops.size > 1)
      throw new InputError(`--budgets: ${g.map((r) => r.dir).join(', ')} share the label '${g[0].label}' and seed ${g[0].train_seed ?? '?'} but start from checkpoints with different operator costs (${[...flops].join(', ')} FLOPs); give them distinct labels (--label NAME=RUN)`)
    const steps = new Map<number, string>()
    for (const r of g) {
      const other = steps.get(r.last.step)
      if (other) throw new InputError(`--budgets: ${other} and ${r.dir} (label '${r.label}', seed ${r.train_seed ?? '?'}) both train for ${r.last.step} steps; give one budget once`)
      steps.set(r.last.step, r.dir)
    }
    const sorted = [...g].sort((a, b) => a.last.flops - b.last.flops)
    const longest = sorted.at(-1)!
    const budgets = sorted.map((r) => ({dir: r.dir, steps: r.last.step}))
    const points: ValPoint[] = sorted.map((r) => r.points.at(-1)!)
    const notes = [...new Set(g.flatMap((r) => r.notes.filter((n) => n !== singlePointNote(r.dir, r.points[0].step))))]
    return {...longest, points, notes, budgets}
  })
}
