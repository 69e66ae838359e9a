/**
 * Training guards and input checks (project issue #10): NaN/Inf stop the run naming the step and keep the last
 * good checkpoint; outputs are not overwritten without --force; I/O failures are reported, not swallowed; CLI flags
 * out of range exit 2 naming the flag. The in-process tests drive `train()`; the CLI ones run bin/run.js (built).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint, saveCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {DivergenceError} from '../../src/errors.js'
import {type RunConfig, resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {useCpu} from '../helpers.js'
import {
  TINY_MODEL, TINY_TRAIN, inFlightNames, killStragglers, ligo, ligoAll, metricRows, requireDist, snapshot, tinyData, tmpDir,
  writeTinyConfig,
} from './helpers.js'

let base: string
let data: string
let cfg: string

beforeAll(async () => {
  requireDist()
  await useCpu()
  base = tmpDir('ligo-guards-')
  data = await tinyData(base)
  cfg = writeTinyConfig(base)
})

afterAll(() => {
  killStragglers()
  if (base) fs.rmSync(base, {recursive: true, force: true})
})

function tiny(train: Record<string, unknown> = {}): RunConfig {
  return resolveRunConfig({model: {...TINY_MODEL}, train: {...TINY_TRAIN, ...train}})
}

/** Rewrites a checkpoint with `poison` applied to its weights/optimizer state (a valid file holding NaNs). */
function poisonCheckpoint(run: string, poison: (ck: ReturnType<typeof loadCheckpoint>) => void): void {
  const ck = loadCheckpoint(run, {optimizer: true})
  poison(ck)
  saveCheckpoint(path.join(run, 'checkpoint'), {meta: ck.meta, weights: ck.weights, optimizer: ck.optimizer, trainer: ck.trainer})
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (error) {
    return error
  }
  throw new Error('expected the run to fail')
}

let relativeDataDirStored = ''
let optimizerNaN: {error: unknown; ckptStep: number | undefined; finite: boolean} | undefined
let forceRestart: {oldSeed: number; newSeed: number; seedInCheckpoint: number | undefined} | undefined

describe('divergence guard (in-process)', () => {
  it('NaN loss: DivergenceError naming the step; the last good checkpoint, metrics and lock are left as they were', async () => {
    const run = path.join(base, 'nan-resume')
    // The data directory given relative to the working directory (as a user types it).
    await train({config: tiny({steps: 4, save_every: 2}), dataDir: path.relative(process.cwd(), data), outDir: run})
    relativeDataDirStored = loadCheckpoint(run).trainer!.data!.dir
    poisonCheckpoint(run, (ck) => ck.weights.get('ln_f.bias')!.fill(Number.NaN))
    const before = snapshot(path.join(run, 'checkpoint'))
    const metricsBefore = fs.readFileSync(path.join(run, 'metrics.jsonl'))

    const err = await rejection(train({config: tiny({steps: 8}), dataDir: data, outDir: run, resume: true}))
    expect(err).toBeInstanceOf(DivergenceError)
    const e = err as DivergenceError
    expect(e.exitCode).toBe(1)
    expect(e.code).toBe('E_DIVERGED')
    expect(e.message).toMatch(/^loss is NaN at step 5; the last good checkpoint is kept in .*checkpoint$/)
    expect(snapshot(path.join(run, 'checkpoint'))).toEqual(before)
    expect(fs.readFileSync(path.join(run, 'metrics.jsonl'))).toEqual(metricsBefore)
    expect(fs.existsSync(path.join(run, '.lock'))).toBe(false)
    expect(inFlightNames(run)).toEqual({tmp: [], swap: []})
  })

  it('NaN optimizer state: the run stops with DivergenceError', async () => {
    const run = path.join(base, 'nan-optimizer')
    await train({config: tiny({steps: 3, save_every: 1}), dataDir: data, outDir: run})
    // Loss and gradients stay finite at step 4; the update turns wte NaN, so step 5's loss is NaN.
    poisonCheckpoint(run, (ck) => ck.optimizer!.get('v.wte.weight')!.fill(Number.NaN))
    const error = await rejection(train({config: tiny({steps: 8, save_every: 1}), dataDir: data, outDir: run, resume: true}))
    expect(error).toBeInstanceOf(DivergenceError)
    expect((error as Error).message).toMatch(/at step [45]/)
    const ck = loadCheckpoint(run)
    optimizerNaN = {error, ckptStep: ck.trainer?.step, finite: [...ck.weights.values()].every((w) => w.every(Number.isFinite))}
  })

  // Known bug (src/train/trainer.ts, see the report): only the loss and the gradients are checked, so weights that
  // the update made non-finite are saved at step 4 over the last good checkpoint before step 5 notices.
  it('NaN optimizer state: non-finite weights never reach the checkpoint', () => {
    expect(optimizerNaN?.finite).toBe(true)
    expect(optimizerNaN?.ckptStep).toBe(3)
  })

  // Known bug (src/train/trainer.ts stores job.dataDir as given): `--resume` from another working directory cannot
  // find a data directory that was given as a relative path.
  it('records the data directory as an absolute path for --resume', () => {
    expect(path.isAbsolute(relativeDataDirStored)).toBe(true)
  })
})

describe('--force', () => {
  it('a restart with force that dies before its first save', async () => {
    const run = path.join(base, 'force-restart')
    await train({config: tiny({steps: 3, save_every: 1, seed: 7}), dataDir: data, outDir: run})
    // A new run forced into the directory, "killed" (an exception out of its step-1 event) before any save.
    const err = await rejection(
      train({
        config: tiny({steps: 6, save_every: 0, seed: 99}),
        dataDir: data,
        outDir: run,
        force: true,
        onEvent: (e) => {
          if (e.kind === 'step') throw new Error('simulated crash')
        },
      }),
    )
    expect(String(err)).toMatch(/simulated crash/)
    expect(metricRows(run).map((r) => r.step)).toEqual([1])
    const ck = fs.existsSync(path.join(run, 'checkpoint')) ? loadCheckpoint(run) : undefined
    forceRestart = {oldSeed: 7, newSeed: 99, seedInCheckpoint: ck?.meta.train?.seed}
  })

  // Known bug (src/train/trainer.ts, see the report): --force keeps the old run's checkpoint/ until the new run's
  // first save, so `--resume` after a crash in between resumes the OLD run under the new run's run.json/metrics.
  it('...leaves no checkpoint of the previous run for --resume to pick up', () => {
    expect(forceRestart).toBeDefined()
    expect(forceRestart!.seedInCheckpoint).not.toBe(forceRestart!.oldSeed)
  })

  it('CLI: refuses a non-empty output without --force (exit 2, nothing touched); --force trains, keeping unrelated files', async () => {
    const out = path.join(base, 'force-cli')
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine')
    const refused = await ligo(['train', '-c', cfg, '-d', data, '-o', out, '--backend', 'cpu', '--steps', '2'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`${out} already exists: pass --force to overwrite it, or choose another output`)
    expect(fs.readdirSync(out)).toEqual(['notes.txt'])
    const forced = await ligo(['train', '-c', cfg, '-d', data, '-o', out, '--backend', 'cpu', '--steps', '2', '--force', '--json'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(JSON.parse(forced.stdout)).toMatchObject({step: 2, interrupted: false})
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine')
    expect(metricRows(out).map((r) => r.step)).toEqual([1, 2])
  })
})

describe('CLI guards', () => {
  it('a start checkpoint whose weights hold NaN: exit 1, "loss is NaN at step 1", no checkpoint written', async () => {
    const src = path.join(base, 'nan-start')
    await train({config: tiny({steps: 1}), dataDir: data, outDir: src})
    poisonCheckpoint(src, (ck) => ck.weights.get('ln_f.weight')!.fill(Number.POSITIVE_INFINITY))
    const out = path.join(base, 'nan-start-out')
    const r = await ligo(['train', src, '-c', cfg, '-d', data, '-o', out, '--backend', 'cpu'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/Error: loss is (NaN|Infinity|-Infinity) at step 1; /)
    expect(r.stderr).toContain('Code: E_DIVERGED')
    expect(fs.existsSync(path.join(out, 'checkpoint'))).toBe(false)
    expect(fs.existsSync(path.join(out, '.lock'))).toBe(false)
  })

  it('flags out of range exit 2 naming the flag (or the config key it sets), before anything is written', async () => {
    const out = path.join(base, 'never-created')
    const cases: Array<[string[], RegExp]> = [
      [['--steps', '0'], /Parsing --steps.*greater than or equal to 1 but received: 0/],
      [['--batch', 'abc'], /Parsing --batch.*Expected an integer but received: abc/],
      [['--lr', '-1'], /--lr -1: expected a number > 0/],
      [['--lr', '1e30'], /--lr 1e\+30: expected a finite number \(> 0, ≤ 10\)/],
      [['--weight-decay', '-0.1'], /--weight-decay -0\.1: expected a number ≥ 0/],
      [['--seq', '64'], /--seq 64: expected at most model\.n_positions \(16\)/],
      [['--heads', '3'], /--heads 3: expected a divisor of d_model \(16\)/],
    ]
    const results = await ligoAll(cases.map(([flags]) => ['train', '-c', cfg, '-d', data, '-o', out, '--backend', 'cpu', ...flags]))
    results.forEach((r, i) => {
      const [flags, msg] = cases[i]
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.replace(/\s+/g, ' '), flags.join(' ')).toMatch(msg)
    })
    expect(fs.existsSync(out)).toBe(false)
  })

  it('a write that fails mid-run (file size limit: EFBIG) is reported (exit 1, file named) and the last checkpoint is intact', async () => {
    const run = path.join(base, 'efbig')
    await train({config: tiny({steps: 2, save_every: 1}), dataDir: data, outDir: run})
    const before = snapshot(path.join(run, 'checkpoint'))
    // `ulimit -f 20` (10 or 20 KiB by the shell's unit) is below model.safetensors (~26 KiB): its write fails with
    // EFBIG (Node ignores SIGXFSZ). The same path reports ENOSPC and EACCES (see test/checkpoints/atomic.test.ts).
    const r = await ligo(['train', '--resume', run, '--steps', '4', '--backend', 'cpu'], {shellPrefix: 'ulimit -f 20;'})
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/Error: cannot write \S*\.checkpoint\.tmp-[^/]+\/model\.safetensors: EFBIG/)
    expect(r.stderr).toContain('Code: E_IO')
    expect(snapshot(path.join(run, 'checkpoint'))).toEqual(before)
    expect(inFlightNames(run)).toEqual({tmp: [], swap: []}) // the temp copy was removed
    expect(fs.existsSync(path.join(run, '.lock'))).toBe(false)
    // ...and the run resumes from that checkpoint once the limit is gone.
    const again = await ligo(['train', '--resume', run, '--steps', '3', '--backend', 'cpu', '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(metricRows(run).map((x) => x.step)).toEqual([1, 2, 3])
  })

  it('an output path through a regular file is an I/O error naming it (exit 1)', async () => {
    const file = path.join(base, 'a-file')
    fs.writeFileSync(file, '')
    const r = await ligo(['train', '-c', cfg, '-d', data, '-o', path.join(file, 'run'), '--backend', 'cpu'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot create ${path.join(file, 'run')}: ENOTDIR`)
  })

  // Permission bits do not stop root, so this runs only as an ordinary user.
  it.skipIf(process.getuid?.() === 0)('a read-only run directory: --resume reports permission denied (exit 1)', async () => {
    const run = path.join(base, 'readonly')
    await train({config: tiny({steps: 1}), dataDir: data, outDir: run})
    fs.chmodSync(run, 0o555)
    try {
      const r = await ligo(['train', '--resume', run, '--steps', '2', '--backend', 'cpu'])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/permission denied \(EACCES\)|operation not permitted \(EPERM\)/)
      expect(r.stderr).toContain(run)
    } finally {
      fs.chmodSync(run, 0o755)
    }
  })
})
