/**
 * Runs read back from an earlier `ligo compare` report (`ligo compare --from REPORT/compare.json`).
 *
 * A report's compare.json holds every compared run as `compareRuns` saw it: label, kind, training seed, growth cost,
 * the small model's cost and the validation points (with `--budgets`, one point per budget run, already merged).
 * Reading those records back lets a comparison go on after the run directories are gone (a scratch baseline or a
 * finished method trained on another machine, a study extended by later seeds): the recorded runs enter
 * `compareRuns` exactly as they did the first time, beside run directories loaded now.
 *
 * Rules:
 * - A report made with `--budgets` holds merged budget curves and can only be used with `--budgets`, and a report
 *   made without it only without it (a merged curve is not a training curve, and vice versa).
 * - The same run (same directory, label and training seed) in two reports must carry the same points, and is then
 *   used once; differing records are an error, as is a (label, training seed) given both by a report and by run
 *   directories (two sources for one method and seed).
 * Nothing here prints; the command reports the notes.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {FileFormatError, InputError} from '../errors.js'
import type {RunData, RunKind, SmallCost, ValPoint} from './compare.js'

/** A run read from a report: a RunData that names the compare.json it came from. */
export type RecordedRun = RunData & {budgets?: {dir: string; steps: number}[]; from_report: string}

const KINDS: readonly RunKind[] = ['grown', 'random', 'scratch', 'other']

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Reads REPORT (a compare.json, or a report directory holding one) and returns its runs and whether it was budget-matched. */
export function loadReportRuns(report: string): {file: string; budgets: boolean; runs: RecordedRun[]} {
  const file = fs.existsSync(report) && fs.statSync(report).isDirectory() ? path.join(report, 'compare.json') : report
  if (!fs.existsSync(file)) throw new InputError(`--from ${report}: no such file; give a report directory of \`npx ligo compare -o DIR\` or its compare.json`)
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    throw new FileFormatError(file, 'is not JSON (expected the compare.json of a `ligo compare` report)')
  }
  return {file, ...reportRuns(json, file)}
}

/** The runs of a parsed compare.json; throws FileFormatError naming `file` and the run when a record is malformed. */
export function reportRuns(json: unknown, file: string): {budgets: boolean; runs: RecordedRun[]} {
  if (!isObj(json) || !Array.isArray(json.runs) || typeof json.budgets !== 'boolean')
    throw new FileFormatError(file, 'is not a `ligo compare` report (needs a "runs" array and a "budgets" flag)')
  const runs = json.runs.map((r, i) => recordedRun(r, `${file}: runs[${i}]`, file))
  if (runs.length === 0) throw new FileFormatError(file, 'holds no runs')
  return {budgets: json.budgets, runs}
}

function recordedRun(r: unknown, where: string, file: string): RecordedRun {
  const bad = (what: string): never => {
    throw new FileFormatError(where, what)
  }
  if (!isObj(r)) return bad('is not an object')
  if (typeof r.dir !== 'string' || r.dir === '') bad('needs "dir" (the run directory)')
  if (typeof r.label !== 'string' || r.label === '') bad('needs "label"')
  if (!KINDS.includes(r.kind as RunKind)) bad(`"kind" must be one of ${KINDS.join(', ')}`)
  if (r.train_seed !== undefined && !Number.isInteger(r.train_seed)) bad('"train_seed" must be an integer')
  const growth = r.growth
  if (!isObj(growth) || !isNum(growth.flops) || (growth.elapsed_s !== undefined && !isNum(growth.elapsed_s))) bad('"growth" needs numeric "flops" (and "elapsed_s" if present)')
  if (!Array.isArray(r.points) || r.points.length === 0) bad('needs a non-empty "points" array (validation points)')
  const points = (r.points as unknown[]).map((p, k): ValPoint => {
    if (!isObj(p) || !isNum(p.step) || !isNum(p.flops) || !isNum(p.elapsed_s) || !isNum(p.val_loss))
      return bad(`points[${k}] needs numeric step, flops, elapsed_s and val_loss`)
    return {step: p.step, flops: p.flops, elapsed_s: p.elapsed_s, val_loss: p.val_loss, ...(isNum(p.val_bpb) ? {val_bpb: p.val_bpb} : {})}
  })
  const last = r.last
  if (!isObj(last) || !isNum(last.step) || !isNum(last.flops) || !isNum(last.elapsed_s) || !isNum(last.tokens)) bad('"last" needs numeric step, flops, elapsed_s and tokens')
  let small: SmallCost | undefined
  if (r.small !== undefined) {
    const s = r.small
    if (!isObj(s) || typeof s.dir !== 'string' || !isNum(s.flops) || !isNum(s.elapsed_s) || (s.source !== 'flag' && s.source !== 'provenance'))
      bad('"small" needs dir, numeric flops and elapsed_s, and source flag|provenance')
    small = s as unknown as SmallCost
  }
  let budgets: RecordedRun['budgets']
  if (r.budgets !== undefined) {
    if (!Array.isArray(r.budgets) || !r.budgets.every((b) => isObj(b) && typeof b.dir === 'string' && isNum(b.steps))) bad('"budgets" must list {dir, steps}')
    budgets = (r.budgets as {dir: string; steps: number}[]).map((b) => ({dir: b.dir, steps: b.steps}))
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const g = growth as {flops: number; elapsed_s?: number}
  const l = last as RunData['last']
  return {
    dir: r.dir as string,
    label: r.label as string,
    ...(str(r.method) === undefined ? {} : {method: str(r.method)}),
    kind: r.kind as RunKind,
    ...(str(r.init_from) === undefined ? {} : {init_from: str(r.init_from)}),
    ...(str(r.grown_from) === undefined ? {} : {grown_from: str(r.grown_from)}),
    ...(r.train_seed === undefined ? {} : {train_seed: r.train_seed as number}),
    growth: {flops: g.flops, ...(g.elapsed_s === undefined ? {} : {elapsed_s: g.elapsed_s})},
    ...(small ? {small} : {}),
    points,
    last: {step: l.step, flops: l.flops, elapsed_s: l.elapsed_s, tokens: l.tokens},
    notes: Array.isArray(r.notes) ? r.notes.filter((n): n is string => typeof n === 'string') : [],
    ...(budgets ? {budgets} : {}),
    from_report: file,
  }
}

const identity = (r: RunData) => `${r.label}\u0000${r.train_seed ?? path.normalize(r.dir)}`
const sameRecord = (a: RunData, b: RunData) =>
  path.normalize(a.dir) === path.normalize(b.dir) && a.growth.flops === b.growth.flops && JSON.stringify(a.points) === JSON.stringify(b.points)

/**
 * Run directories loaded now (already budget-merged when `budgets`) plus the runs of the given reports. Each report
 * must match `budgets`; a run recorded in several reports is kept once (its records must agree); a (label, training
 * seed) that both a report and the run directories give is an error. Returns the runs and a note per report.
 */
export function withReportRuns(loaded: readonly RunData[], reports: readonly {file: string; budgets: boolean; runs: RecordedRun[]}[], budgets: boolean): {runs: RunData[]; notes: string[]} {
  const fromDirs = new Map(loaded.map((r) => [identity(r), r]))
  const recorded = new Map<string, RecordedRun>()
  const notes: string[] = []
  for (const rep of reports) {
    if (rep.budgets !== budgets)
      throw new InputError(`--from ${rep.file}: that report was made ${rep.budgets ? 'with' : 'without'} --budgets, so its runs are ${rep.budgets ? 'budget curves (one final loss per budget)' : 'training curves'}; use it ${rep.budgets ? 'with' : 'without'} --budgets`)
    let added = 0
    for (const r of rep.runs) {
      const key = identity(r)
      const dirRun = fromDirs.get(key)
      if (dirRun)
        throw new InputError(`--from ${rep.file}: it records '${r.label}' seed ${r.train_seed ?? '?'} (${r.dir}), which the run directory ${dirRun.dir} also gives; drop one of them`)
      const seen = recorded.get(key)
      if (seen) {
        if (!sameRecord(seen, r))
          throw new InputError(`--from: '${r.label}' seed ${r.train_seed ?? '?'} is recorded differently in ${seen.from_report} (${seen.dir}) and ${rep.file} (${r.dir}); give one of those reports`)
        continue
      }
      recorded.set(key, r)
      added++
    }
    notes.push(`${added} run${added === 1 ? '' : 's'} read from ${rep.file} (recorded results; their run directories were not read)${added < rep.runs.length ? `, ${rep.runs.length - added} already given by an earlier --from` : ''}`)
  }
  return {runs: [...loaded, ...recorded.values()], notes}
}
