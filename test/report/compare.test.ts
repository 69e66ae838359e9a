/** `ligo compare` library: interpolation, accounting with and without the small model, labels, seeds, errors, charts. */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {
  type RunData, type SmallCost, compareCharts, compareRuns, firstCrossing, labelFor, loadRun, lossAt, markdownTable, parseMetrics, runFromParts,
  writeComparison,
} from '../../src/report/compare.js'
import type {MetricsRow} from '../../src/train/trainer.js'
import {TINY_MODEL, tmpDir} from '../helpers.js'

/** Metrics rows: one per 10 steps, 1 GFLOP and 2 s per step, validation losses at the given steps. */
function rows(val: Record<number, number>, steps = Math.max(...Object.keys(val).map(Number))): MetricsRow[] {
  const out: MetricsRow[] = []
  for (let s = 10; s <= steps; s += 10)
    out.push({step: s, tokens: s * 100, flops: s * 1e9, loss: 9, lr: 1e-3, grad_norm: 1, tokens_per_s: 50, elapsed_s: s * 2, ...(val[s] === undefined ? {} : {val_loss: val[s]})})
  return out
}

function run(dir: string, val: Record<number, number>, growth?: {method: string; flops?: number; elapsed_s?: number}, small?: SmallCost): RunData {
  return runFromParts({
    dir,
    metricsFile: `${dir}/metrics.jsonl`,
    rows: rows(val),
    runProvenance: growth ? {init_from: `${dir}-grown`} : {},
    initProvenance: growth ? {grown_from: 'small/checkpoint', growth} : undefined,
    small,
  })
}

const SMALL: SmallCost = {dir: 'small', flops: 20e9, elapsed_s: 10, source: 'flag'}
const curve = (pts: [number, number, number][]) => pts.map(([x, t, loss], i) => ({step: (i + 1) * 10, x, t, loss}))

describe('interpolation', () => {
  it('crosses the target linearly in FLOPs, time by the same fraction', () => {
    const c = curve([[100, 10, 4], [200, 30, 3], [300, 50, 2]])
    expect(firstCrossing(c, 3.5)).toEqual({step: 20, flops: 150, elapsed_s: 20, interpolated: true, bound: false})
    expect(firstCrossing(c, 3.75)).toMatchObject({flops: 125, elapsed_s: 15})
    // exactly on a point: that point, no interpolation
    expect(firstCrossing(c, 3)).toEqual({step: 20, flops: 200, elapsed_s: 30, interpolated: false, bound: false})
  })

  it('uses the first point as is when it already crosses, and the FIRST crossing when the curve goes back up', () => {
    expect(firstCrossing(curve([[100, 10, 2], [200, 30, 1]]), 3)).toEqual({step: 10, flops: 100, elapsed_s: 10, interpolated: false, bound: true})
    expect(firstCrossing(curve([[100, 10, 4], [200, 30, 2], [300, 50, 5], [400, 70, 1]]), 3)).toMatchObject({step: 20, flops: 150})
  })

  it('reports never-reached targets as undefined', () => {
    expect(firstCrossing(curve([[100, 10, 4], [200, 30, 3.5]]), 3)).toBeUndefined()
  })

  it('reads the loss at a FLOPs budget, undefined outside the curve', () => {
    const c = curve([[100, 10, 4], [200, 30, 3]])
    expect(lossAt(c, 150)).toBeCloseTo(3.5, 12)
    expect(lossAt(c, 200)).toBe(3)
    expect(lossAt(c, 100)).toBe(4)
    expect(lossAt(c, 99)).toBeUndefined()
    expect(lossAt(c, 201)).toBeUndefined()
  })
})

describe('parsing and labels', () => {
  it('parses metrics.jsonl, skipping a torn last line but not a bad line in the middle', () => {
    const good = JSON.stringify(rows({10: 5})[0])
    expect(parseMetrics(`${good}\n${good}\n{"step":3,"flo`, 'm.jsonl')).toHaveLength(2)
    expect(() => parseMetrics(`${good}\nnot json\n${good}\n`, 'm.jsonl')).toThrow(/m\.jsonl: line 2/)
    expect(() => parseMetrics(`{"a":1}\n`, 'm.jsonl')).toThrow(/not a metrics row/)
  })

  it('labels runs by the growth method of their init checkpoint, else by directory', () => {
    expect(labelFor('run-x', {provenance: {growth: {method: 'ligo'}}})).toEqual({label: 'ligo', kind: 'grown', method: 'ligo'})
    expect(labelFor('run-x', {provenance: {growth: {method: 'random'}}})).toEqual({label: 'random', kind: 'random', method: 'random'})
    expect(labelFor('run-x', {provenance: {}})).toEqual({label: 'run-x', kind: 'other'})
    expect(labelFor('scratch')).toEqual({label: 'scratch', kind: 'scratch'})
    expect(run('runs/a', {10: 5}, {method: 'stack'}).label).toBe('stack')
    expect(run('runs/scratch', {10: 5}).label).toBe('scratch')
  })

  it('refuses a run without validation points, naming the file and --eval-every', () => {
    const r = () => runFromParts({dir: 'runs/a', metricsFile: 'runs/a/metrics.jsonl', rows: rows({}, 30)})
    expect(r).toThrow(InputError)
    expect(r).toThrow(/runs\/a\/metrics\.jsonl: no validation points.*--eval-every/)
  })
})

describe('accounting', () => {
  // random: reaches its final 3.0 at step 100 (100 GFLOPs, 200 s).
  const random = () => run('runs/random', {20: 5, 40: 4, 60: 3.5, 80: 3.2, 100: 3}, {method: 'random', flops: 0})
  // ligo: 10 GFLOPs of operator learning (5 s); crosses 3.0 halfway between steps 40 (3.2) and 60 (2.8).
  const ligo = () => run('runs/ligo', {20: 3.6, 40: 3.2, 60: 2.8, 80: 2.6, 100: 2.5}, {method: 'ligo', flops: 10e9, elapsed_s: 5}, SMALL)
  // stack: never reaches 3.0.
  const stack = () => run('runs/stack', {20: 4, 40: 3.6, 60: 3.4}, {method: 'stack', flops: 0}, SMALL)

  it('charges growth FLOPs and time, and adds the small model only in the incl. small numbers', () => {
    const c = compareRuns([ligo(), random(), stack()])
    expect(c.baseline).toMatchObject({label: 'random', target_loss: {mean: 3}, budget_flops: {mean: 100e9}})
    expect(c.methods.map((m) => m.label)).toEqual(['random', 'ligo', 'stack'])
    const [b, l, s] = c.methods
    expect(b.is_baseline).toBe(true)
    expect(b.runs[0]).toMatchObject({reached: true, step: 100, flops_to_target: 100e9, time_to_target_s: 200, flops_saved: 0, flops_saved_incl_small: 0})
    const lr = l.runs[0]
    // 50 steps of training (50 GFLOPs, 100 s) + 10 GFLOPs / 5 s of operator learning
    expect(lr.flops_to_target).toBeCloseTo(60e9, 0)
    expect(lr.time_to_target_s).toBeCloseTo(105, 9)
    expect(lr.flops_saved).toBeCloseTo(1 - 60 / 100, 12)
    expect(lr.flops_saved_incl_small).toBeCloseTo(1 - (60 + 20) / 100, 12)
    expect(lr.time_saved).toBeCloseTo(1 - 105 / 200, 12)
    expect(lr.time_saved_incl_small).toBeCloseTo(1 - (105 + 10) / 200, 12)
    expect(lr).toMatchObject({step: 60, interpolated: true, final_val_loss: 2.5, final_flops: 110e9})
    // at the scratch budget of 100 GFLOPs: 90 GFLOPs of training, between steps 80 (2.6) and 100 (2.5)
    expect(lr.val_loss_at_budget).toBeCloseTo(2.55, 12)
    expect(l.used_small).toBe(true)
    expect(s.runs[0]).toMatchObject({reached: false, final_val_loss: 3.4, val_loss_at_budget: null})
    expect(s.runs[0].flops_saved).toBeUndefined()
    expect(s.summary.reached).toBe(0)
  })

  it('does not charge the small model to random or scratch runs', () => {
    const scratch = run('runs/scratch', {50: 3.5, 100: 2.9})
    const c = compareRuns([random(), scratch, ligo()])
    const m = c.methods.find((x) => x.label === 'scratch')!
    expect(m.used_small).toBe(false)
    expect(m.runs[0].small_flops).toBe(0)
    expect(m.runs[0].flops_saved_incl_small).toBe(m.runs[0].flops_saved)
    expect(markdownTable(c)).toMatch(/\| scratch \| [^|]+ \| (\S+) \| \1 \(no small\) \|/)
  })

  it('makes a markdown table with the documented columns', () => {
    const t = markdownTable(compareRuns([random(), ligo(), stack()]))
    expect(t).toMatch(/\| method \| FLOPs to target \| % FLOPs saved \| % saved incl\. small \| time to target \| % time saved \| % time saved incl\. small \| final val loss \| val loss at scratch budget \|/)
    expect(t).toMatch(/\| ligo \| 60\.0 G \| 40\.0% \| 20\.0% \| 1\.8 min \| 47\.5% \| 42\.5% \| 2\.5000 \| 2\.5500 \|/)
    expect(t).toMatch(/\| stack \| not reached \| — \| — \| not reached \| — \| — \| 3\.4000 \| — \|/)
    expect(t).toMatch(/\| random \| 100 G \| baseline \|/)
    // reached at its first validation point: upper bound on the cost, lower bound on the saving
    const early = run('runs/zero', {20: 2.9, 40: 2.8}, {method: 'zero'}, SMALL)
    expect(markdownTable(compareRuns([random(), early]))).toMatch(/\| zero \| ≤ 20\.0 G \| ≥ 80\.0% \| ≥ 60\.0% \| ≤ 40\.0 s \| ≥ 80\.0% \| ≥ 75\.0% \| 2\.8000 \| — \|/)
  })

  it('finds the baseline by label or directory, else the only scratch run, else says which labels exist', () => {
    expect(compareRuns([ligo(), stack(), random()], {baseline: 'stack'}).baseline.label).toBe('stack')
    expect(compareRuns([ligo(), random()], {baseline: 'runs/ligo'}).baseline.label).toBe('ligo')
    const c = compareRuns([ligo(), run('runs/scratch', {50: 3.5, 100: 3})])
    expect(c.baseline.label).toBe('scratch')
    expect(c.notes.join('\n')).toMatch(/from scratch/)
    expect(() => compareRuns([ligo(), stack()])).toThrow(/labels found: ligo, stack/)
    expect(() => compareRuns([ligo(), random()], {baseline: 'zero'})).toThrow(/--baseline zero.*labels found: ligo, random/)
  })

  it('tells apart runs that share a label without --seeds', () => {
    const c = compareRuns([ligo(), run('runs/ligo-fp', {50: 2.9}, {method: 'ligo', flops: 1e9}), random()])
    expect(c.methods.map((m) => m.label)).toEqual(['random', 'ligo (ligo)', 'ligo (ligo-fp)'])
  })
})

describe('seeds', () => {
  it('pairs each seed with the baseline of the same seed directory and reports mean and spread', () => {
    const runs = [
      run('x/seed1/random', {50: 4, 100: 3}, {method: 'random'}),
      run('x/seed2/random', {50: 4, 100: 2}, {method: 'random'}),
      run('x/seed1/ligo', {20: 4, 50: 3, 100: 2.5}, {method: 'ligo'}, SMALL), // target 3 at 50 GFLOPs: 50% saved
      run('x/seed2/ligo', {20: 4, 50: 3, 80: 2}, {method: 'ligo'}, SMALL), // target 2 at 80 GFLOPs: 20% saved
    ]
    const c = compareRuns(runs, {seeds: true})
    expect(c.baseline.target_loss).toEqual({mean: 2.5, min: 2, max: 3, n: 2})
    const l = c.methods.find((m) => m.label === 'ligo')!
    expect(l.runs.map((r) => [r.seed, r.baseline_dir])).toEqual([['seed1', 'x/seed1/random'], ['seed2', 'x/seed2/random']])
    expect(l.summary.flops_saved!.mean).toBeCloseTo(0.35, 12)
    expect(l.summary.flops_saved!.min).toBeCloseTo(0.2, 12)
    expect(l.summary.flops_saved!.max).toBeCloseTo(0.5, 12)
    expect(markdownTable(c)).toMatch(/\| ligo \| 2\/2 \| 65\.0 G \[50\.0 G–80\.0 G\] \| 35\.0% \[20\.0%–50\.0%\] \|/)
    expect(() => compareRuns([...runs.slice(0, 2), run('x/seed3/ligo', {50: 3}, {method: 'ligo'}), runs[2]], {seeds: true})).toThrow(/no baseline run for seed 'seed3'/)
  })

  it('--paired: each method minus the reference, seed by seed, over the seeds where both reached the target', () => {
    // Scratch reaches its final loss 3 at 100 GFLOPs in every seed; a method reaching 3 at step k saves 1 − k/100.
    const runs = [1, 2, 3].map((s) => run(`x/seed${s}/random`, {50: 4, 100: 3}, {method: 'random'}))
    const at = (s: number, method: string, val: Record<number, number>) => runs.push(run(`x/seed${s}/${method}`, val, {method}))
    at(1, 'stack', {20: 4, 50: 3}) // 50%
    at(2, 'stack', {20: 4, 80: 3}) // 20%
    at(3, 'stack', {20: 4, 60: 3}) // 40%
    at(1, 'ligo', {20: 4, 60: 3}) // 40%: −10 points
    at(2, 'ligo', {20: 4, 70: 3}) // 30%: +10
    at(3, 'ligo', {20: 4, 60: 3}) // 40%: 0
    at(1, 'zero', {20: 4, 90: 3}) // 10%: −40
    at(2, 'zero', {20: 4, 100: 3.5}) // not reached: left out
    at(3, 'zero', {20: 4, 50: 3}) // 50%: +10
    const c = compareRuns(runs, {seeds: true, paired: 'stack'})
    expect(c.paired!.versus).toBe('stack')
    const [ligo, zero] = c.paired!.rows
    expect(ligo.label).toBe('ligo')
    expect(ligo.diffs.map((d) => d.seed)).toEqual(['seed1', 'seed2', 'seed3'])
    expect(ligo.mean!).toBeCloseTo(0, 12)
    expect(ligo.sd!).toBeCloseTo(0.1, 12)
    expect(ligo.ci95![1]).toBeCloseTo((4.3027 * 0.1) / Math.sqrt(3), 4)
    expect([ligo.ahead, ligo.behind]).toEqual([1, 1])
    expect(zero.diffs.map((d) => d.seed)).toEqual(['seed1', 'seed3'])
    expect(zero.mean!).toBeCloseTo(-0.15, 12)
    expect([zero.ahead, zero.behind]).toEqual([1, 1])
    const md = markdownTable(c)
    expect(md).toContain('| ligo | 3 | 0.0 | 10.0 | −24.8 to +24.8 | 1 / 1 |')
    expect(md).toContain('| zero | 2 | −15.0 |')
    expect(() => compareRuns(runs, {paired: 'stack'})).toThrow(/--paired .*--seeds/)
    expect(() => compareRuns(runs, {seeds: true, paired: 'interleave'})).toThrow(/--paired interleave: no runs with that label/)
    expect(() => compareRuns(runs, {seeds: true, paired: 'random'})).toThrow(/that is the baseline/)
  })

  it('--paired with one seed: runs in different directories are paired by their training seed', () => {
    // The layout of the growth experiment's budget runs: scratch in out-g15/, each method under its own folder.
    const mk = (dir: string, val: Record<number, number>, method: string) =>
      runFromParts({dir, metricsFile: `${dir}/metrics.jsonl`, rows: rows(val), trainSeed: 15, runProvenance: {init_from: `${dir}-grown`},
        initProvenance: {grown_from: 'small/checkpoint', growth: {method}}})
    const runs = [mk('x/out-g15/run-random', {50: 4, 100: 3}, 'random'), mk('x/budget/run-stack', {20: 4, 50: 3}, 'stack'),
      mk('x/op25/run-ligo', {20: 4, 40: 3}, 'ligo')]
    const c = compareRuns(runs, {seeds: true, paired: 'stack'})
    expect(c.paired!.rows[0].diffs).toEqual([{seed: 'seed15', diff: expect.closeTo(0.1, 12)}])
    expect(c.runs.map((r) => r.seed)).toEqual(['seed15', 'seed15', 'seed15'])
  })

  it('--paired --level: the interval at that level beside the 95% one, in the JSON and the table', () => {
    // Differences −10, +10, 0 points (sd 10, n 3): the 97.5% interval uses t(0.9875, 2) = 6.2053.
    const runs = [1, 2, 3].map((s) => run(`x/seed${s}/random`, {50: 4, 100: 3}, {method: 'random'}))
    const at = (s: number, method: string, val: Record<number, number>) => runs.push(run(`x/seed${s}/${method}`, val, {method}))
    at(1, 'stack', {20: 4, 50: 3})
    at(2, 'stack', {20: 4, 80: 3})
    at(3, 'stack', {20: 4, 60: 3})
    at(1, 'ligo', {20: 4, 60: 3})
    at(2, 'ligo', {20: 4, 70: 3})
    at(3, 'ligo', {20: 4, 60: 3})
    const c = compareRuns(runs, {seeds: true, paired: 'stack', level: 0.975})
    expect(c.paired!.level).toBe(0.975)
    const [ligo] = c.paired!.rows
    expect(ligo.ci95![1]).toBeCloseTo((4.3027 * 0.1) / Math.sqrt(3), 4)
    expect(ligo.ci![1]).toBeCloseTo((6.2053 * 0.1) / Math.sqrt(3), 4)
    const md = markdownTable(c)
    expect(md).toContain('| method | seeds | mean difference | sd | 95% interval | 97.5% interval | ahead / behind |')
    expect(md).toContain('| ligo | 3 | 0.0 | 10.0 | −24.8 to +24.8 | −35.8 to +35.8 | 1 / 1 |')
    // Without --level: no extra column, no `ci`.
    const plain = compareRuns(runs, {seeds: true, paired: 'stack'})
    expect(plain.paired!.rows[0].ci).toBeUndefined()
    expect(markdownTable(plain)).not.toContain('97.5%')
    expect(() => compareRuns(runs, {seeds: true, paired: 'stack', level: 97.5})).toThrow(/--level 97\.5: expected a confidence level strictly between 0 and 1/)
    expect(() => compareRuns(runs, {seeds: true, level: 0.975})).toThrow(/--level sets the interval of --paired/)
  })
})

describe('files', () => {
  /** A run directory as `ligo train` leaves it, started from a grown checkpoint with this provenance. */
  function writeRun(root: string, name: string, val: Record<number, number>, growth?: Record<string, unknown>): string {
    const dir = path.join(root, name)
    fs.mkdirSync(path.join(dir, 'checkpoint'), {recursive: true})
    let initFrom: string | undefined
    if (growth) {
      initFrom = path.join(root, `g-${name}`)
      fs.mkdirSync(initFrom, {recursive: true})
      const provenance = {grown_from: path.join(root, 'small', 'checkpoint'), growth}
      fs.writeFileSync(path.join(initFrom, 'config.json'), JSON.stringify({format: 'ligo-checkpoint', version: 1, model: TINY_MODEL, tokenizer: {}, provenance}))
    }
    const meta = {format: 'ligo-checkpoint', version: 1, model: TINY_MODEL, tokenizer: {}, provenance: initFrom ? {init_from: initFrom} : {}}
    fs.writeFileSync(path.join(dir, 'checkpoint', 'config.json'), JSON.stringify(meta))
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), rows(val).map((r) => JSON.stringify(r) + '\n').join(''))
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({config: {train: {seed: 7}}, data: 'd', provenance: {}}))
    return dir
  }

  it('loads runs from disk, finds the small model through provenance, and explains missing metrics', () => {
    const root = tmpDir('ligo-compare-')
    fs.mkdirSync(path.join(root, 'small', 'checkpoint'), {recursive: true})
    fs.writeFileSync(path.join(root, 'small', 'checkpoint', 'config.json'), JSON.stringify({format: 'ligo-checkpoint', version: 1, model: TINY_MODEL, tokenizer: {}, provenance: {}}))
    fs.writeFileSync(path.join(root, 'small', 'checkpoint', 'trainer.json'), JSON.stringify({step: 600, tokens: 1, flops: 4.8e11, elapsed_s: 65, optimizer: 'adamw'}))
    const l = loadRun(writeRun(root, 't-ligo', {50: 3, 100: 2.5}, {method: 'ligo', flops: 1e10}))
    expect(l).toMatchObject({label: 'ligo', kind: 'grown', growth: {flops: 1e10}, small: {flops: 4.8e11, elapsed_s: 65, source: 'provenance'}, train_seed: 7})
    const r = loadRun(writeRun(root, 't-random', {50: 4, 100: 3}, {method: 'random', flops: 0}))
    expect(r).toMatchObject({label: 'random', kind: 'random'})
    expect(r.small).toBeUndefined()
    expect(loadRun(writeRun(root, 'scratch', {100: 3}))).toMatchObject({label: 'scratch', kind: 'scratch'})
    expect(() => loadRun(path.join(root, 'g-t-ligo'))).toThrow(/is a checkpoint, not a training run.*--eval-every/)
    expect(() => loadRun(path.join(root, 'nothing'))).toThrow(/nothing: no such run directory/)
    fs.mkdirSync(path.join(root, 'empty'))
    expect(() => loadRun(path.join(root, 'empty'))).toThrow(/empty\/metrics\.jsonl: not found/)
  })

  it('writes SVG and PNG charts naming every method, the table and compare.json', async () => {
    const root = tmpDir('ligo-compare-')
    const runs = [
      run('runs/random', {20: 5, 40: 4, 60: 3.5, 80: 3.2, 100: 3}, {method: 'random'}),
      run('runs/ligo', {20: 3.6, 40: 3.2, 60: 2.8, 80: 2.6, 100: 2.5}, {method: 'ligo', flops: 10e9}, SMALL),
      run('runs/net2net', {20: 3.8, 40: 3.3, 60: 3.1, 80: 2.95, 100: 2.8}, {method: 'net2net'}, SMALL),
    ]
    const c = compareRuns(runs)
    const charts = await compareCharts(c)
    const files = writeComparison(root, c, charts)
    expect(files.map((f) => path.basename(f))).toEqual(['loss_vs_flops.svg', 'loss_vs_flops.png', 'loss_vs_time.svg', 'loss_vs_time.png', 'table.md', 'compare.json'])
    for (const f of ['loss_vs_flops', 'loss_vs_time']) {
      const png = fs.readFileSync(path.join(root, `${f}.png`))
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
      const svg = fs.readFileSync(path.join(root, `${f}.svg`), 'utf8')
      expect(svg.startsWith('<svg')).toBe(true)
      for (const m of ['random', 'ligo', 'net2net', 'target 3.000']) expect(svg, `${f} names ${m}`).toContain(m)
    }
    const json = JSON.parse(fs.readFileSync(path.join(root, 'compare.json'), 'utf8'))
    expect(json.baseline.label).toBe('random')
    expect(json.accounting).toMatch(/operator-learning FLOPs/)
    expect(fs.readFileSync(path.join(root, 'table.md'), 'utf8')).toContain('| net2net |')
  })
})
