/**
 * Compare training runs that started from grown checkpoints (LiGO, stack, interleave, net2net, zero) against a
 * from-scratch baseline: FLOPs and wall-clock to reach the baseline's final validation loss, the share saved,
 * validation loss at the baseline's budget, and charts of validation loss against FLOPs and against time.
 *
 * The computation is pure (`compareRuns` over `RunData`, which `runFromParts` builds from parsed files); `loadRun`
 * and `loadSmall` read run directories, `writeComparison` writes the report. Nothing here prints.
 *
 * Accounting (the text of {@link ACCOUNTING}, repeated in `ligo compare --help` and in compare.json):
 *
 * - Charged FLOPs of a run at a validation point = the run's own training FLOPs at that step (metrics.jsonl
 *   `flops`, cumulative over resumes) + the operator-learning FLOPs of the grown checkpoint it was initialised
 *   from (its config.json `provenance.growth.flops`; 0 for the fixed operators stack/interleave/net2net/zero,
 *   for random, and for runs not started from a grown checkpoint).
 * - Charged wall-clock = the run's `elapsed_s` at that step (training loop time, periodic evaluation included)
 *   + `provenance.growth.elapsed_s` of the grown checkpoint when it is recorded (0 otherwise; older checkpoints
 *   do not record it).
 * - The small model's pretraining (FLOPs and elapsed_s of its trainer.json, else the last row of its
 *   metrics.jsonl) is never part of the charged numbers; it is added only in the "incl. small" variants, and only
 *   for runs whose init checkpoint was grown from it (every growth method but `random`; scratch runs use none).
 *   The small run is `--small` when given, else each grown checkpoint's own `provenance.grown_from`.
 * - Target loss = the baseline's final validation loss (its last validation point). The baseline is the run
 *   labelled `random` unless `--baseline` names another label or run.
 * - FLOPs (time) to target = the first crossing of the run's validation curve below the target: at the first
 *   validation point i with val_loss ≤ target, linearly interpolated in charged FLOPs between point i−1 and i:
 *   x = x[i−1] + (l[i−1] − target) / (l[i−1] − l[i]) · (x[i] − x[i−1]); the time to target uses the same
 *   fraction between the two points' charged seconds. When i is the first validation point there is nothing to
 *   interpolate from and x[i] itself is used (an upper bound, marked ≤ in the table, its saving ≥). The baseline gets the same rule (normally its last
 *   point). A run that never crosses is "not reached" and its final validation loss is reported instead.
 * - % FLOPs saved = 1 − method FLOPs to target / baseline FLOPs to target. Incl. small:
 *   1 − (method FLOPs + small FLOPs) / (baseline FLOPs + small FLOPs if the baseline used the small model, else
 *   + 0). Time likewise with seconds. Negative means the method cost more than the baseline.
 * - Val loss at scratch budget = the run's validation curve linearly interpolated at the baseline's final charged
 *   FLOPs; null when that budget lies before the run's first or after its last validation point.
 * - Seeds (`--seeds`): runs with the same label are seeds of one method. A run's seed key is its parent
 *   directory's name when those differ within the label (seed1/run-ligo, seed2/run-ligo), else its training seed
 *   (run.json), else its position — one scheme for all labels: training seeds as soon as parent directories do not
 *   tell some label's runs apart. Each seed is measured against the baseline run with the same key (or the only
 *   baseline run, when there is one); the table reports the mean and the min–max over seeds of each number,
 *   over the seeds that reached the target for the to-target numbers. Charts draw one line per run (colour =
 *   method, one line per seed).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import type {TopLevelSpec} from 'vega-lite'

import {writeFileAtomic} from '../checkpoints/atomic.js'
import {readModelMeta, resolveCheckpointDir, weightsSha256} from '../checkpoints/checkpoint.js'
import {FileFormatError, InputError} from '../errors.js'
import type {MetricsRow} from '../train/trainer.js'
import {type Chart, type Row, lineChartSpec, renderSvg, svgToPng} from './plot.js'
import {tInterval} from './stats.js'

export const ACCOUNTING = `Charged FLOPs at a validation point = the run's own training FLOPs (metrics.jsonl flops) + the operator-learning FLOPs of the grown checkpoint it started from (provenance.growth.flops; 0 for stack/interleave/net2net/zero/random and for runs not started from a grown checkpoint). Charged time = the run's elapsed_s (evaluation included) + provenance.growth.elapsed_s when recorded. The small model's pretraining (trainer.json of --small, else of each grown checkpoint's provenance.grown_from) is added only in the "incl. small" columns, and only for runs grown from it (all methods but random and scratch). Target = the baseline's final validation loss. FLOPs/time to target = first crossing of val_loss ≤ target, linearly interpolated in FLOPs (time: same fraction) between the two surrounding validation points; the first point itself when it already crosses (an upper bound). % saved = 1 − method / baseline (incl. small: (method + small) / (baseline + small if the baseline used it)). Val loss at scratch budget = the run's validation curve interpolated at the baseline's final charged FLOPs (null outside the run's range). With --seeds, runs sharing a label are seeds (keyed by parent directory name, else training seed, one scheme for all labels), each measured against the baseline of the same key; the table shows mean [min–max].`

/** The budget-matched reading (`--budgets`, budgets.ts `mergeBudgets`), appended to ACCOUNTING when used. */
export const BUDGET_ACCOUNTING = `With --budgets, runs sharing a label and a training seed are one method trained to different budgets (ligo train --steps B, the same schedule otherwise); the method's curve is each run's final validation loss against its charged FLOPs (time), so FLOPs to target is the smallest budget that reaches the target, linearly interpolated between the two budgets around it. A run's final validation point must be its last step.`

export type RunKind = 'grown' | 'random' | 'scratch' | 'other'

/** One validation point of a run, in the run's own (uncharged) FLOPs and seconds. */
export interface ValPoint {
  step: number
  flops: number
  elapsed_s: number
  val_loss: number
  val_bpb?: number
}

/** Pretraining cost of the small model a grown checkpoint came from. */
export interface SmallCost {
  dir: string
  flops: number
  elapsed_s: number
  /** 'flag': given by --small; 'provenance': the grown checkpoint's grown_from. */
  source: 'flag' | 'provenance'
}

export interface RunData {
  /** The run directory as given. */
  dir: string
  /** Label before disambiguation: the growth method, else the directory name (or a --label override). */
  label: string
  /** growth.method of the init checkpoint, when it has one. */
  method?: string
  kind: RunKind
  init_from?: string
  grown_from?: string
  /** config.train.seed from run.json. */
  train_seed?: number
  growth: {flops: number; elapsed_s?: number}
  /** Charged for "incl. small" (grown runs other than random only). */
  small?: SmallCost
  points: ValPoint[]
  /** The last metrics row: where the run stands. */
  last: {step: number; flops: number; elapsed_s: number; tokens: number}
  notes: string[]
}

/** A point of a charged curve: x = FLOPs, t = seconds, both including the growth cost. */
interface CurvePoint {
  step: number
  x: number
  t: number
  loss: number
}

export interface Crossing {
  /** The first validation step with val_loss ≤ target. */
  step: number
  flops: number
  elapsed_s: number
  /** True when the value lies strictly between two validation points. */
  interpolated: boolean
  /** The first validation point already crosses: the run may have reached the target earlier (an upper bound). */
  bound: boolean
}

export interface Stat {
  mean: number
  min: number
  max: number
  n: number
}

export interface SeedResult {
  seed: string
  dir: string
  baseline_dir: string
  target_loss: number
  reached: boolean
  /** First validation step at or below the target. */
  step?: number
  interpolated?: boolean
  /** Reached at the first validation point: to-target numbers are upper bounds, savings lower bounds. */
  upper_bound?: boolean
  /** Charged FLOPs and seconds to target (growth included, small excluded). */
  flops_to_target?: number
  time_to_target_s?: number
  small_flops: number
  small_elapsed_s: number
  flops_saved?: number
  flops_saved_incl_small?: number
  time_saved?: number
  time_saved_incl_small?: number
  final_val_loss: number
  final_flops: number
  final_time_s: number
  budget_flops: number
  val_loss_at_budget: number | null
}

export interface MethodResult {
  label: string
  kind: RunKind
  method?: string
  used_small: boolean
  is_baseline: boolean
  runs: SeedResult[]
  summary: {
    seeds: number
    reached: number
    /** Seeds that reached the target already at their first validation point. */
    upper_bounds: number
    flops_to_target?: Stat
    time_to_target_s?: Stat
    flops_saved?: Stat
    flops_saved_incl_small?: Stat
    time_saved?: Stat
    time_saved_incl_small?: Stat
    final_val_loss: Stat
    val_loss_at_budget?: Stat
  }
}

/** One method against the `--paired` reference, seed by seed (seeds where both reached the target). */
export interface PairedRow {
  label: string
  /** Per seed: this method's FLOPs saved minus the reference's (fractions of the baseline's FLOPs). */
  diffs: {seed: string; diff: number}[]
  mean?: number
  /** Sample standard deviation of the differences (n ≥ 2). */
  sd?: number
  /** 95% Student-t interval of the mean difference (n ≥ 2). */
  ci95?: [number, number]
  /** With a `level` other than 0.95: the Student-t interval at that level (n ≥ 2). */
  ci?: [number, number]
  /** Seeds where this method saved more (less) than the reference. */
  ahead: number
  behind: number
}

export interface Comparison {
  baseline: {label: string; dirs: string[]; target_loss: Stat; budget_flops: Stat}
  /** With `paired`: every other method's % FLOPs saved minus the reference's, paired by seed. */
  paired?: {versus: string; level: number; rows: PairedRow[]}
  accounting: string
  seeds: boolean
  /** The runs are budget curves (see budgets.ts): each point is one run's final loss at its own budget. */
  budgets: boolean
  methods: MethodResult[]
  runs: (Omit<RunData, 'label'> & {label: string; seed: string; charged: {step: number; flops: number; elapsed_s: number; val_loss: number}[]})[]
  notes: string[]
}

export interface CompareOptions {
  /** A label, or a run directory among the runs (default: 'random', else the only scratch run). */
  baseline?: string
  /** Group runs with the same label as seeds of one method. */
  seeds?: boolean
  /** The runs were merged by `mergeBudgets`: recorded, and explained in the table and charts. */
  budgets?: boolean
  /** With `seeds`: a label whose % FLOPs saved every other method is compared with, seed by seed. */
  paired?: string
  /** With `paired`: the confidence level of the extra interval (default 0.95: only the 95% interval). */
  level?: number
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** Parses metrics.jsonl text. A torn last line (a killed run) is skipped; a bad line elsewhere is an error. */
export function parseMetrics(text: string, file: string): MetricsRow[] {
  const lines = text.split('\n')
  while (lines.length > 0 && !lines.at(-1)!.trim()) lines.pop()
  const rows: MetricsRow[] = []
  lines.forEach((line, i) => {
    if (!line.trim()) return
    let row: MetricsRow
    try {
      row = JSON.parse(line) as MetricsRow
    } catch {
      if (i === lines.length - 1) return
      throw new FileFormatError(file, `line ${i + 1} is not JSON`)
    }
    if (typeof row !== 'object' || row === null || typeof row.step !== 'number' || typeof row.flops !== 'number' || typeof row.elapsed_s !== 'number')
      throw new FileFormatError(file, `line ${i + 1} is not a metrics row (needs step, flops, elapsed_s)`)
    rows.push(row)
  })
  return rows
}

/** The rows with a finite validation loss, in step order. */
export function validationPoints(rows: readonly MetricsRow[]): ValPoint[] {
  return rows
    .filter((r) => typeof r.val_loss === 'number' && Number.isFinite(r.val_loss))
    .map((r) => ({step: r.step, flops: r.flops, elapsed_s: r.elapsed_s, val_loss: r.val_loss!, ...(r.val_bpb === undefined ? {} : {val_bpb: r.val_bpb})}))
    .sort((a, b) => a.step - b.step)
}

/** Label and kind from the provenance of the checkpoint a run was initialised from. */
export function labelFor(dirName: string, init?: {provenance?: Record<string, unknown>}): {label: string; kind: RunKind; method?: string} {
  if (!init) return {label: dirName, kind: 'scratch'}
  const growth = init.provenance?.growth as {method?: unknown} | undefined
  const method = typeof growth?.method === 'string' ? growth.method : undefined
  if (!method) return {label: dirName, kind: 'other'}
  return {label: method, kind: method === 'random' ? 'random' : 'grown', method}
}

export interface RunParts {
  dir: string
  metricsFile: string
  rows: MetricsRow[]
  /** Provenance of the run's own checkpoint (init_from lives there). */
  runProvenance?: Record<string, unknown>
  /** Provenance of the init checkpoint, when it could be read. */
  initProvenance?: Record<string, unknown>
  trainSeed?: number
  small?: SmallCost
  label?: string
  notes?: string[]
}

/** The note on a run with one validation point (expected of budget runs, which `mergeBudgets` drops it from). */
export const singlePointNote = (dir: string, step: number) =>
  `${dir}: only one validation point (step ${step}); train with --eval-every N for a curve to interpolate`

/** Builds a run from its parsed files; throws InputError when it has no validation point. */
export function runFromParts(p: RunParts): RunData {
  if (p.rows.length === 0) throw new InputError(`${p.metricsFile}: no metrics rows; the run has not logged a step yet`)
  const points = validationPoints(p.rows)
  if (points.length === 0)
    throw new InputError(`${p.metricsFile}: no validation points (no row has val_loss): the run stopped before its final evaluation; resume it to the end (\`npx ligo train --resume ${p.dir}\`) or train with --eval-every N`)
  const notes = [...(p.notes ?? [])]
  const initFrom = typeof p.runProvenance?.init_from === 'string' ? p.runProvenance.init_from : undefined
  const name = path.basename(path.resolve(p.dir))
  const hasInit = initFrom !== undefined
  const {label, kind, method} = labelFor(name, hasInit ? {provenance: p.initProvenance} : undefined)
  const growth = (p.initProvenance?.growth ?? {}) as {flops?: unknown; elapsed_s?: unknown}
  const growthFlops = typeof growth.flops === 'number' && Number.isFinite(growth.flops) ? growth.flops : 0
  const growthElapsed = typeof growth.elapsed_s === 'number' && Number.isFinite(growth.elapsed_s) ? growth.elapsed_s : undefined
  if (kind === 'grown' && growthFlops > 0 && growthElapsed === undefined)
    notes.push(`${p.dir}: the grown checkpoint does not record how long operator learning took; its wall-clock is not charged`)
  if (points.length === 1) notes.push(singlePointNote(p.dir, points[0].step))
  const last = p.rows.reduce((a, b) => (b.step > a.step ? b : a))
  const grownFrom = typeof p.initProvenance?.grown_from === 'string' ? p.initProvenance.grown_from : undefined
  return {
    dir: p.dir,
    label: p.label ?? label,
    method,
    kind,
    init_from: initFrom,
    grown_from: grownFrom,
    train_seed: p.trainSeed,
    growth: {flops: growthFlops, ...(growthElapsed === undefined ? {} : {elapsed_s: growthElapsed})},
    small: kind === 'grown' ? p.small : undefined,
    points,
    last: {step: last.step, flops: last.flops, elapsed_s: last.elapsed_s, tokens: last.tokens},
    notes,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Loading (file system)

export interface LoadRunOptions {
  /** --small: charged to every grown run (else each grown checkpoint's grown_from is used). */
  small?: SmallCost
  label?: string
}

/** Reads RUN/metrics.jsonl, RUN/run.json, RUN/checkpoint/config.json and the init checkpoint's provenance. */
export function loadRun(dir: string, opts: LoadRunOptions = {}): RunData {
  if (!fs.existsSync(dir)) throw new InputError(`${dir}: no such run directory`)
  const metricsFile = path.join(dir, 'metrics.jsonl')
  if (!fs.existsSync(metricsFile)) {
    throw new InputError(fs.existsSync(path.join(dir, 'config.json'))
      ? `${dir} is a checkpoint, not a training run (no metrics.jsonl): train it first, e.g. \`npx ligo train ${dir} --data DATA --eval-every 50 -o RUN\`, and compare RUN`
      : `${metricsFile}: not found; give run directories made by \`npx ligo train -o RUN\` (use --eval-every N for a validation curve)`)
  }
  const notes: string[] = []
  const rows = parseMetrics(fs.readFileSync(metricsFile, 'utf8'), metricsFile)
  let runProvenance: Record<string, unknown> | undefined
  try {
    runProvenance = readModelMeta(resolveCheckpointDir(dir)).provenance
  } catch {
    notes.push(`${dir}: no readable checkpoint; its init checkpoint (and so its growth method) is unknown`)
  }
  let trainSeed: number | undefined
  try {
    const runJson = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as {config?: {train?: {seed?: unknown}}}
    if (typeof runJson.config?.train?.seed === 'number') trainSeed = runJson.config.train.seed
  } catch {
    // run.json is optional for the comparison
  }
  let initProvenance: Record<string, unknown> | undefined
  const initFrom = runProvenance?.init_from
  if (typeof initFrom === 'string') {
    const found = findPath(initFrom, dir)
    try {
      if (!found) throw new Error('not found')
      initProvenance = readModelMeta(resolveCheckpointDir(found)).provenance
    } catch {
      notes.push(`${dir}: its init checkpoint ${initFrom} cannot be read; labelled by directory name, no growth FLOPs charged`)
    }
  }
  let small = opts.small
  const grownFrom = initProvenance?.grown_from
  const growth = initProvenance?.growth as {method?: unknown} | undefined
  if (!small && typeof grownFrom === 'string' && growth?.method !== 'random') {
    const found = findPath(grownFrom, dir)
    try {
      if (!found) throw new Error('not found')
      small = loadSmall(found, 'provenance')
      const sha = initProvenance?.source_sha256
      const now = typeof sha === 'string' ? sourceHash(found) : undefined
      if (now !== undefined && now !== sha)
        notes.push(`${dir}: the small checkpoint ${grownFrom} changed since the growth (hash differs); its pretraining cost may not be the one charged`)
    } catch {
      notes.push(`${dir}: the small model ${grownFrom} cannot be read; pass --small SMALL_RUN to charge its pretraining`)
    }
  }
  return runFromParts({dir, metricsFile, rows, runProvenance, initProvenance, trainSeed, small, label: opts.label, notes})
}

/** The pretraining cost of a small model: its checkpoint's trainer.json, else the last row of its metrics.jsonl. */
export function loadSmall(dir: string, source: SmallCost['source'] = 'flag'): SmallCost {
  if (!fs.existsSync(dir)) throw new InputError(`--small ${dir}: no such run or checkpoint directory`)
  try {
    const trainer = JSON.parse(fs.readFileSync(path.join(resolveCheckpointDir(dir), 'trainer.json'), 'utf8')) as {flops?: unknown; elapsed_s?: unknown}
    if (typeof trainer.flops === 'number' && typeof trainer.elapsed_s === 'number') return {dir, flops: trainer.flops, elapsed_s: trainer.elapsed_s, source}
  } catch {
    // fall back to metrics.jsonl
  }
  for (const m of [path.join(dir, 'metrics.jsonl'), path.join(path.dirname(path.resolve(dir)), 'metrics.jsonl')]) {
    if (!fs.existsSync(m)) continue
    const rows = parseMetrics(fs.readFileSync(m, 'utf8'), m)
    if (rows.length > 0) {
      const last = rows.reduce((a, b) => (b.step > a.step ? b : a))
      return {dir, flops: last.flops, elapsed_s: last.elapsed_s, source}
    }
  }
  throw new InputError(`--small ${dir}: no trainer.json or metrics.jsonl to read its pretraining FLOPs from; give the small model's run directory`)
}

/** The weights hash growth records (provenance.source_sha256) of a checkpoint now, if it can be read. */
function sourceHash(dir: string): string | undefined {
  try {
    return weightsSha256(resolveCheckpointDir(dir))
  } catch {
    return undefined
  }
}

/** A path recorded in provenance: as written (absolute or relative to the working directory), else beside the run. */
function findPath(p: string, runDir: string): string | undefined {
  if (fs.existsSync(p)) return p
  if (!path.isAbsolute(p)) for (const base of [runDir, path.dirname(path.resolve(runDir))]) if (fs.existsSync(path.join(base, p))) return path.join(base, p)
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The comparison (pure)

/** The run's validation curve in charged FLOPs and seconds (growth cost added, small excluded). */
export function chargedCurve(r: RunData): CurvePoint[] {
  const gt = r.growth.elapsed_s ?? 0
  return r.points.map((p) => ({step: p.step, x: p.flops + r.growth.flops, t: p.elapsed_s + gt, loss: p.val_loss}))
}

/**
 * The first crossing of a validation curve below `target`: at the first point with loss ≤ target, linearly
 * interpolated in FLOPs between it and the point before (the time uses the same fraction); the first point
 * itself when it already crosses. Undefined when the curve never reaches the target.
 */
export function firstCrossing(curve: readonly CurvePoint[], target: number): Crossing | undefined {
  const i = curve.findIndex((p) => p.loss <= target)
  if (i < 0) return undefined
  const b = curve[i]
  if (i === 0) return {step: b.step, flops: b.x, elapsed_s: b.t, interpolated: false, bound: true}
  const a = curve[i - 1]
  const f = (a.loss - target) / (a.loss - b.loss) // in (0, 1]: a.loss > target ≥ b.loss
  return {step: b.step, flops: a.x + f * (b.x - a.x), elapsed_s: a.t + f * (b.t - a.t), interpolated: f < 1, bound: false}
}

/** The curve's loss at FLOPs `x`, linearly interpolated; undefined outside [first point, last point]. */
export function lossAt(curve: readonly CurvePoint[], x: number): number | undefined {
  if (curve.length === 0 || x < curve[0].x || x > curve.at(-1)!.x) return undefined
  for (let i = 0; i < curve.length; i++) {
    const b = curve[i]
    if (b.x === x) return b.loss
    if (b.x > x) {
      const a = curve[i - 1]
      return a.loss + ((x - a.x) / (b.x - a.x)) * (b.loss - a.loss)
    }
  }
  return undefined
}

export function stat(values: readonly number[]): Stat | undefined {
  if (values.length === 0) return undefined
  return {mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), n: values.length}
}

const usesSmall = (r: RunData) => r.kind === 'grown'

/** Compares runs against the baseline. Throws InputError when the baseline cannot be found. */
export function compareRuns(runsIn: readonly RunData[], opts: CompareOptions = {}): Comparison {
  if (runsIn.length === 0) throw new InputError('no runs to compare')
  if (opts.paired !== undefined && !opts.seeds) throw new InputError('--paired compares seeds of two methods: add --seeds')
  const level = opts.level ?? 0.95
  if (!(level > 0 && level < 1)) throw new InputError(`--level ${level}: expected a confidence level strictly between 0 and 1, e.g. 0.975`)
  if (opts.level !== undefined && opts.paired === undefined) throw new InputError('--level sets the interval of --paired: add --paired METHOD')
  const notes = runsIn.flatMap((r) => r.notes)
  const runs = opts.seeds ? runsIn.map((r) => ({...r})) : disambiguate(runsIn)
  const groups = new Map<string, RunData[]>()
  for (const r of runs) groups.set(r.label, [...(groups.get(r.label) ?? []), r])
  const seedKeys = seedKeysOf([...groups.values()])
  if (!opts.seeds) for (const r of runs) seedKeys.set(r, '-')

  const baselineLabel = findBaseline(runs, groups, opts.baseline, notes)
  if (opts.paired !== undefined && !groups.has(opts.paired))
    throw new InputError(`--paired ${opts.paired}: no runs with that label (labels: ${[...groups.keys()].join(', ')})`)
  if (opts.paired === baselineLabel) throw new InputError(`--paired ${opts.paired}: that is the baseline; name a method compared with it`)
  const baseRuns = groups.get(baselineLabel)!
  const baseByKey = new Map(baseRuns.map((r) => [seedKeys.get(r)!, r]))
  const baseFor = (r: RunData): RunData => {
    if (baseRuns.length === 1) return baseRuns[0]
    const b = baseByKey.get(seedKeys.get(r)!)
    if (!b)
      throw new InputError(`${r.dir}: no baseline run for seed '${seedKeys.get(r)}' (the baseline '${baselineLabel}' has seeds ${[...baseByKey.keys()].join(', ')}); name seed directories alike (seed1/run-ligo, seed1/run-random)`)
    return b
  }

  const baseInfo = new Map<RunData, {target: number; cross: Crossing; budget: number}>()
  for (const b of baseRuns) {
    const c = chargedCurve(b)
    const target = c.at(-1)!.loss
    baseInfo.set(b, {target, cross: firstCrossing(c, target)!, budget: c.at(-1)!.x})
  }

  const seedResult = (r: RunData): SeedResult => {
    const b = baseFor(r)
    const {target, cross: bc, budget} = baseInfo.get(b)!
    const curve = chargedCurve(r)
    const cross = firstCrossing(curve, target)
    const small = usesSmall(r) && r.small ? r.small : undefined
    const bSmall = usesSmall(b) && b.small ? b.small : undefined
    const last = curve.at(-1)!
    const res: SeedResult = {
      seed: seedKeys.get(r)!,
      dir: r.dir,
      baseline_dir: b.dir,
      target_loss: target,
      reached: cross !== undefined,
      small_flops: small?.flops ?? 0,
      small_elapsed_s: small?.elapsed_s ?? 0,
      final_val_loss: last.loss,
      final_flops: last.x,
      final_time_s: last.t,
      budget_flops: budget,
      val_loss_at_budget: lossAt(curve, budget) ?? null,
    }
    if (cross) {
      const sf = small?.flops ?? 0
      const st = small?.elapsed_s ?? 0
      Object.assign(res, {
        step: cross.step,
        interpolated: cross.interpolated,
        upper_bound: cross.bound,
        flops_to_target: cross.flops,
        time_to_target_s: cross.elapsed_s,
        flops_saved: 1 - cross.flops / bc.flops,
        flops_saved_incl_small: 1 - (cross.flops + sf) / (bc.flops + (bSmall?.flops ?? 0)),
        time_saved: 1 - cross.elapsed_s / bc.elapsed_s,
        time_saved_incl_small: 1 - (cross.elapsed_s + st) / (bc.elapsed_s + (bSmall?.elapsed_s ?? 0)),
      })
    }
    return res
  }

  const labels = [baselineLabel, ...[...groups.keys()].filter((l) => l !== baselineLabel)]
  const methods: MethodResult[] = labels.map((label) => {
    const g = groups.get(label)!
    const results = g.map(seedResult)
    const reached = results.filter((s) => s.reached)
    const pick = (f: (s: SeedResult) => number | null | undefined, from = reached) =>
      stat(from.map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)))
    const kinds = new Set(g.map((r) => r.kind))
    if (kinds.size > 1) notes.push(`'${label}' groups runs of different kinds (${[...kinds].join(', ')})`)
    if (g.some(usesSmall) && g.some((r) => usesSmall(r) && !r.small))
      notes.push(`'${label}': the small model's pretraining cost is unknown for ${g.filter((r) => usesSmall(r) && !r.small).map((r) => r.dir).join(', ')}; "incl. small" leaves it out — pass --small`)
    return {
      label,
      kind: g[0].kind,
      method: g[0].method,
      used_small: g.some(usesSmall),
      is_baseline: label === baselineLabel,
      runs: results,
      summary: {
        seeds: results.length,
        reached: reached.length,
        upper_bounds: reached.filter((s) => s.upper_bound).length,
        flops_to_target: pick((s) => s.flops_to_target),
        time_to_target_s: pick((s) => s.time_to_target_s),
        flops_saved: pick((s) => s.flops_saved),
        flops_saved_incl_small: pick((s) => s.flops_saved_incl_small),
        time_saved: pick((s) => s.time_saved),
        time_saved_incl_small: pick((s) => s.time_saved_incl_small),
        final_val_loss: pick((s) => s.final_val_loss, results)!,
        val_loss_at_budget: pick((s) => s.val_loss_at_budget, results),
      },
    }
  })

  return {
    baseline: {
      label: baselineLabel,
      dirs: baseRuns.map((r) => r.dir),
      target_loss: stat([...baseInfo.values()].map((i) => i.target))!,
      budget_flops: stat([...baseInfo.values()].map((i) => i.budget))!,
    },
    accounting: opts.budgets ? `${ACCOUNTING} ${BUDGET_ACCOUNTING}` : ACCOUNTING,
    seeds: Boolean(opts.seeds),
    budgets: Boolean(opts.budgets),
    methods,
    ...(opts.paired !== undefined ? {paired: {versus: opts.paired, level, rows: pairedRows(methods, opts.paired, level)}} : {}),
    runs: runs.map((r) => ({...r, seed: seedKeys.get(r)!, charged: chargedCurve(r).map((p) => ({step: p.step, flops: p.x, elapsed_s: p.t, val_loss: p.loss}))})),
    notes: [...new Set(notes)],
  }
}

/** Every method but the baseline and the reference against the reference, seed by seed (both must reach the target). */
function pairedRows(methods: readonly MethodResult[], versus: string, level: number): PairedRow[] {
  const saved = (m: MethodResult) => new Map(m.runs.filter((r) => r.flops_saved !== undefined).map((r) => [r.seed, r.flops_saved!]))
  const ref = saved(methods.find((m) => m.label === versus)!)
  return methods
    .filter((m) => !m.is_baseline && m.label !== versus)
    .map((m) => {
      const diffs = [...saved(m)].filter(([seed]) => ref.has(seed)).map(([seed, v]) => ({seed, diff: v - ref.get(seed)!}))
      const d = diffs.map((x) => x.diff)
      const row: PairedRow = {label: m.label, diffs, ahead: d.filter((x) => x > 0).length, behind: d.filter((x) => x < 0).length}
      if (d.length > 0) row.mean = d.reduce((a, b) => a + b, 0) / d.length
      const i95 = tInterval(d, 0.95)
      if (i95) {
        row.sd = i95.sd
        row.ci95 = [i95.lo, i95.hi]
        const i = level === 0.95 ? undefined : tInterval(d, level)
        if (i) row.ci = [i.lo, i.hi]
      }
      return row
    })
}

/** Without --seeds, runs that share a label get their directory appended: "ligo (g-ligo-fp)". */
function disambiguate(runs: readonly RunData[]): RunData[] {
  const count = new Map<string, number>()
  for (const r of runs) count.set(r.label, (count.get(r.label) ?? 0) + 1)
  const names = runs.map((r) => path.basename(path.resolve(r.dir)))
  const long = runs.map((r) => path.relative(path.dirname(path.dirname(path.resolve(r.dir))), path.resolve(r.dir)))
  return runs.map((r, i) => {
    if (count.get(r.label)! < 2) return {...r}
    const clash = runs.some((o, j) => j !== i && o.label === r.label && names[j] === names[i])
    return {...r, label: `${r.label} (${clash ? long[i] : names[i]})`}
  })
}

/**
 * Seed keys of every run, by one scheme for all labels (so a run's key can be looked up among the baseline's):
 * parent directory names if they tell the runs of every label apart and name the same seeds across labels, else
 * training seeds if those do, else positions within each label. (With one run per label every scheme tells the
 * runs apart; the parent directories of `out/run-random` and `out/budget/run-stack-700` do not match, the
 * training seeds do.)
 */
function seedKeysOf(groups: readonly (readonly RunData[])[]): Map<RunData, string> {
  const distinct = (ks: (string | undefined)[]) => ks.length === 1 || (ks.every((k) => k !== undefined) && new Set(ks).size === ks.length)
  /** Every label shares at least one key with the other labels (else nothing could be paired). */
  const overlapping = (keys: (string | undefined)[][]) =>
    keys.length < 2 || keys.every((ks, i) => ks.some((k) => k !== undefined && keys.some((other, j) => j !== i && other.includes(k))))
  const schemes: ((r: RunData, i: number) => string | undefined)[] = [
    (r) => path.basename(path.dirname(path.resolve(r.dir))),
    (r) => (r.train_seed === undefined ? undefined : `seed${r.train_seed}`),
  ]
  const key =
    schemes.find((k) => groups.every((g) => distinct(g.map(k))) && overlapping(groups.map((g) => g.map(k)))) ??
    ((_: RunData, i: number) => `#${i + 1}`)
  return new Map(groups.flatMap((g) => g.map((r, i) => [r, key(r, i)!] as const)))
}

function findBaseline(runs: readonly RunData[], groups: Map<string, RunData[]>, wanted: string | undefined, notes: string[]): string {
  const labels = [...groups.keys()]
  if (wanted !== undefined) {
    if (groups.has(wanted)) return wanted
    const byDir = runs.find((r) => path.resolve(r.dir) === path.resolve(wanted))
    if (byDir) return byDir.label
    throw new InputError(`--baseline ${wanted}: no run has that label or directory; labels found: ${labels.join(', ')}`)
  }
  if (groups.has('random')) return 'random'
  const scratch = labels.filter((l) => groups.get(l)!.every((r) => r.kind === 'scratch'))
  if (scratch.length === 1) {
    notes.push(`no run labelled 'random': using the run trained from scratch, '${scratch[0]}', as the baseline`)
    return scratch[0]
  }
  throw new InputError(`no baseline: no run is labelled 'random' (a run trained from \`npx ligo grow --method random\`); labels found: ${labels.join(', ')}; name one with --baseline LABEL or give a from-scratch run`)
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

/** "1.23 TFLOP"-style numbers: three significant digits with an SI prefix. */
export function si(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return String(n)
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E']
  let i = 0
  let v = Math.abs(n)
  while (v >= 1000 && i < prefixes.length - 1) {
    v /= 1000
    i++
  }
  const s = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
  return `${n < 0 ? '-' : ''}${s} ${prefixes[i]}${unit}`.trim()
}

function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`
  if (s < 3600) return `${(s / 60).toFixed(1)} min`
  return `${(s / 3600).toFixed(2)} h`
}

const pct = (f: number) => `${f >= 0 ? '' : '−'}${Math.abs(f * 100).toFixed(1)}%`
const loss = (l: number) => l.toFixed(4)
/** A signed difference of fractions in percentage points: "+1.2", "−0.4", "0.0". */
function points(f: number): string {
  const v = Number((f * 100).toFixed(1))
  return v === 0 ? '0.0' : `${v > 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}`
}

/** "v" for one seed; "mean [min–max]" for several. */
function show(s: Stat | undefined, f: (n: number) => string): string {
  if (!s) return '—'
  if (s.n === 1 || f(s.min) === f(s.max)) return f(s.mean)
  return `${f(s.mean)} [${f(s.min)}–${f(s.max)}]`
}

/** The markdown table of a comparison. */
export function markdownTable(c: Comparison): string {
  const head = ['method', ...(c.seeds ? ['seeds reached'] : []), 'FLOPs to target', '% FLOPs saved', '% saved incl. small', 'time to target', '% time saved',
    '% time saved incl. small', 'final val loss', 'val loss at scratch budget']
  const rows = c.methods.map((m) => {
    const s = m.summary
    const none = s.reached === 0
    // reached at the first validation point: the cost is an upper bound, the saving a lower bound
    const le = s.upper_bounds > 0 && !m.is_baseline ? '≤ ' : ''
    const ge = le ? '≥ ' : ''
    const saved = (st: Stat | undefined, small = false) =>
      m.is_baseline ? 'baseline' : none ? '—' : `${ge}${show(st, pct)}${small && !m.used_small ? ' (no small)' : ''}`
    return [
      m.label,
      ...(c.seeds ? [`${s.reached}/${s.seeds}`] : []),
      none ? 'not reached' : le + show(s.flops_to_target, (n) => si(n)),
      saved(s.flops_saved),
      saved(s.flops_saved_incl_small, true),
      none ? 'not reached' : le + show(s.time_to_target_s, seconds),
      saved(s.time_saved),
      saved(s.time_saved_incl_small, true),
      show(s.final_val_loss, loss),
      show(s.val_loss_at_budget, loss),
    ]
  })
  const esc = (cell: string) => cell.replaceAll('|', '\\|')
  const line = (cells: string[]) => `| ${cells.map(esc).join(' | ')} |`
  const t = c.baseline.target_loss
  const b = c.baseline.budget_flops
  const budgets = c.budgets
    ? ' Budget-matched: each method was trained to several budgets with the same schedule; "to target" is the smallest budget whose final val loss reaches the target, interpolated between the two budgets around it (≤/≥: already its smallest budget); "final val loss" is its longest budget\'s.'
    : ' ≤/≥: reached at the first validation point (evaluate more often for a sharper number).'
  const paired = c.paired ? pairedTable(c.paired, line) : []
  return [
    `Target: ${c.baseline.label}'s final val loss ${show(t, loss)}; scratch budget ${show(b, (n) => si(n, 'FLOP'))}. FLOPs and time include operator learning; "incl. small" adds the small model's pretraining.${budgets}`,
    '',
    line(head),
    line(head.map((h, i) => (i === 0 ? '---' : '---:'))),
    ...rows.map(line),
    '',
    ...paired,
  ].join('\n')
}

/** The --paired table: the 95% interval always, and the --level interval beside it when that differs. */
function pairedTable(p: NonNullable<Comparison['paired']>, line: (cells: string[]) => string): string[] {
  const extra = p.level !== 0.95
  const pct = `${+(p.level * 100).toFixed(4)}%`
  const span = (ci?: [number, number]) => (ci ? `${points(ci[0])} to ${points(ci[1])}` : '—')
  return [
    `Paired by seed against ${p.versus}: each method's % FLOPs saved minus ${p.versus}'s, in points, over the seeds where both reached the target (${extra ? `95% and ${pct} intervals` : '95% interval'}: Student t over those seeds).`,
    '',
    line(['method', 'seeds', 'mean difference', 'sd', '95% interval', ...(extra ? [`${pct} interval`] : []), 'ahead / behind']),
    line(['---', '---:', '---:', '---:', '---:', ...(extra ? ['---:'] : []), '---:']),
    ...p.rows.map((r) =>
      line([r.label, String(r.diffs.length), r.mean === undefined ? '—' : points(r.mean), r.sd === undefined ? '—' : (r.sd * 100).toFixed(1),
        span(r.ci95), ...(extra ? [span(r.ci)] : []), `${r.ahead} / ${r.behind}`]),
    ),
    '',
  ]
}

export interface CompareCharts {
  flops: Chart
  time: Chart
}

/** Validation loss against charged FLOPs and against charged seconds, one line per run, the target as a rule. */
export async function compareCharts(c: Comparison, opts: {logX?: boolean} = {}): Promise<CompareCharts> {
  const data: Row[] = c.runs.flatMap((r) => r.charged.map((p) => ({method: r.label, run: `${r.label} ${r.seed}`, seed: r.seed, step: p.step, flops: p.flops, time_s: p.elapsed_s, val_loss: p.val_loss})))
  const targets = [...new Set(c.methods.find((m) => m.is_baseline)!.runs.map((r) => r.target_loss))]
  const width = 480
  const what = c.budgets ? 'final validation loss of each training budget' : 'validation loss'
  const make = async (x: {field: string; title: string}, title: string, xFormat?: string): Promise<Chart> => {
    const base = lineChartSpec({
      title,
      x: {...x, scale: opts.logX ? 'log' : 'linear', zero: true},
      y: {field: 'val_loss', title: `${c.budgets ? 'final ' : ''}validation loss (nats/token)`},
      series: 'method',
      seriesTitle: 'method',
      data,
      width,
      height: 300,
    })
    const spec = withTargetRule(base, targets, {detail: c.seeds ? 'run' : undefined, xFormat, tightX: opts.logX, width})
    const svg = await renderSvg(spec)
    return {svg, png: svgToPng(svg, 2), spec}
  }
  return {
    flops: await make({field: 'flops', title: `${c.budgets ? 'budget: ' : ''}FLOPs (training + operator learning)`}, `${what} vs FLOPs (target: ${c.baseline.label} final)`, '~s'),
    time: await make({field: 'time_s', title: `${c.budgets ? 'budget: ' : ''}wall-clock seconds (training + operator learning)`}, `${what} vs wall-clock (target: ${c.baseline.label} final)`),
  }
}

/**
 * Layers a dashed horizontal rule at each target loss, labelled once, over a single-panel line chart; with
 * `detail`, one line per value of that field (seeds) within each colour; `xFormat` is a d3 format for the x axis
 * labels (e.g. '~s': 40G); `tightX` fits the x scale to the data. A spec of another shape is returned as is.
 */
function withTargetRule(spec: TopLevelSpec, targets: readonly number[], opts: {detail?: string; xFormat?: string; tightX?: boolean; width: number}): TopLevelSpec {
  const s = spec as unknown as Record<string, unknown>
  if (!s.mark || !s.encoding || targets.length === 0) return spec
  const {mark, encoding, data, ...top} = s
  const enc = {...(encoding as Record<string, Record<string, unknown>>)}
  if (opts.detail) enc.detail = {field: opts.detail, type: 'nominal'}
  if (opts.xFormat && enc.x) enc.x = {...enc.x, axis: {...(enc.x.axis as object | undefined), format: opts.xFormat}}
  // A log axis "niced" to whole decades wastes most of the width on a run's one or two decades.
  if (opts.tightX && enc.x) enc.x = {...enc.x, scale: {...(enc.x.scale as object | undefined), nice: false}}
  const lo = Math.min(...targets)
  const hi = Math.max(...targets)
  const text = lo === hi ? `target ${lo.toFixed(3)}` : `targets ${lo.toFixed(3)}–${hi.toFixed(3)}`
  return {
    ...top,
    layer: [
      {data, mark, encoding: enc},
      {
        data: {values: targets.map((t) => ({target_loss: t}))},
        mark: {type: 'rule', strokeDash: [5, 4], color: '#555'},
        encoding: {y: {field: 'target_loss', type: 'quantitative'}},
      },
      {
        data: {values: [{target_loss: hi, text}]},
        mark: {type: 'text', align: 'right', baseline: 'bottom', dy: -2, fontSize: 10, color: '#555'},
        encoding: {y: {field: 'target_loss', type: 'quantitative'}, x: {value: opts.width - 4}, text: {field: 'text', type: 'nominal'}},
      },
    ],
  } as unknown as TopLevelSpec
}

/** Writes DIR/loss_vs_flops.{svg,png}, DIR/loss_vs_time.{svg,png}, DIR/table.md and DIR/compare.json; returns the paths. */
export function writeComparison(dir: string, c: Comparison, charts: CompareCharts, extra: Record<string, unknown> = {}): string[] {
  const files = ['loss_vs_flops.svg', 'loss_vs_flops.png', 'loss_vs_time.svg', 'loss_vs_time.png', 'table.md', 'compare.json'].map((f) => path.join(dir, f))
  writeFileAtomic(files[0], charts.flops.svg)
  writeFileAtomic(files[1], charts.flops.png)
  writeFileAtomic(files[2], charts.time.svg)
  writeFileAtomic(files[3], charts.time.png)
  writeFileAtomic(files[4], markdownTable(c))
  writeFileAtomic(files[5], JSON.stringify({...c, ...extra, table: markdownTable(c), files}, null, 1) + '\n')
  return files
}
