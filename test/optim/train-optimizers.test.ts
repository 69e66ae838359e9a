/** The optimizers through the run config, the trainer (loss goes down, exact resume, --reset-optimizer) and the train command. */
import * as path from 'node:path'

import {afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import Train from '../../src/commands/train.js'
import {OPTIMIZERS} from '../../src/optim/index.js'
import {readConfigFile, resolveRunConfig, withOptimizer} from '../../src/train/config.js'
import {type TrainEvent, train} from '../../src/train/trainer.js'
import {runMetrics, smallBrown, tinyRun, tmpDir, useCpu} from '../helpers.js'

describe('optimizer config', () => {
  const tc = (train: Record<string, unknown>, overrides = {}) => resolveRunConfig({train}, overrides).train

  it('resolves each optimizer with its published defaults, and keeps only the keys it uses', () => {
    const adamw = tc({})
    expect(adamw).toMatchObject({optimizer: 'adamw', beta1: 0.9, beta2: 0.95, eps: 1e-8})
    for (const k of ['beta3', 'eps2', 'clip_threshold', 'decay_rate', 'scale_parameter']) expect(adamw).not.toHaveProperty(k)
    const came = tc({optimizer: 'came'})
    expect(came).toMatchObject({beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps: 1e-30, eps2: 1e-16, clip_threshold: 1})
    expect(came).not.toHaveProperty('decay_rate')
    const af = tc({optimizer: 'adafactor'})
    expect(af).toMatchObject({beta1: 0, beta2: 1, eps: 1e-30, eps2: 1e-3, clip_threshold: 1, decay_rate: -0.8, scale_parameter: false})
    expect(af).not.toHaveProperty('beta3')
    // File values and the --optimizer override (which picks the defaults of the optimizer it names).
    expect(tc({optimizer: 'came', beta3: 0.999, lr: 0.002})).toMatchObject({beta3: 0.999, beta2: 0.999, lr: 0.002})
    expect(tc({}, {optimizer: 'adafactor'})).toMatchObject({optimizer: 'adafactor', decay_rate: -0.8})
    expect(tc({beta2: 0.98}, {optimizer: 'came'})).toMatchObject({optimizer: 'came', beta2: 0.98})
  })

  it('rejects bad values and keys the chosen optimizer does not use, naming the key', () => {
    expect(() => tc({optimizer: 'sgd'})).toThrow(/train\.optimizer.*adamw, came, adafactor/)
    expect(() => tc({beta3: 0.99})).toThrow(/'train\.beta3' has value 0\.99: expected no value: beta3 is a setting of came, and train\.optimizer is adamw/)
    expect(() => tc({optimizer: 'came', decay_rate: -0.8})).toThrow(/train\.decay_rate.*setting of adafactor/)
    expect(() => tc({optimizer: 'adafactor', clip_threshold: 1})).not.toThrow()
    expect(() => tc({optimizer: 'came', beta1: 0})).toThrow(/train\.beta1.*> 0/)
    expect(tc({optimizer: 'adafactor', beta1: 0}).beta1).toBe(0)
    expect(() => tc({optimizer: 'came', beta2: 1})).toThrow(/train\.beta2/)
    expect(tc({optimizer: 'adafactor', beta2: 1}).beta2).toBe(1)
    expect(() => tc({optimizer: 'came', beta3: 1})).toThrow(/train\.beta3/)
    expect(() => tc({optimizer: 'came', eps2: 0})).toThrow(/train\.eps2.*> 0/)
    expect(() => tc({optimizer: 'came', clip_threshold: 0})).toThrow(/train\.clip_threshold.*> 0/)
    expect(() => tc({optimizer: 'adafactor', decay_rate: 0.5})).toThrow(/train\.decay_rate.*≤ 0/)
    expect(() => tc({optimizer: 'adafactor', decay_rate: -2})).toThrow(/train\.decay_rate.*≥ -1/)
    expect(() => tc({optimizer: 'adafactor', scale_parameter: 'yes'})).toThrow(/train\.scale_parameter.*true or false/)
  })

  it('switches optimizers with their defaults, keeping the schedule (withOptimizer); presets accept --optimizer', () => {
    const came = tc({optimizer: 'came', lr: 0.002, beta3: 0.999, weight_decay: 0.01})
    const af = withOptimizer(came, 'adafactor')
    expect(af).toMatchObject({optimizer: 'adafactor', lr: 0.002, weight_decay: 0.01, beta1: 0, beta2: 1, decay_rate: -0.8})
    expect(af).not.toHaveProperty('beta3')
    expect(withOptimizer(came, 'came')).toBe(came)
    for (const opt of OPTIMIZERS) {
      const r = resolveRunConfig(readConfigFile('configs/gpt-tiny.yaml'), {optimizer: opt}, 'gpt-tiny')
      expect(r.train.optimizer).toBe(opt)
      expect(r.train.beta2).toBe(0.95) // the preset's explicit value wins over the optimizer's default
    }
  })
})

let data: string
beforeAll(async () => {
  await useCpu()
  data = await smallBrown()
})

function expectSameRun(a: string, b: string): void {
  const ca = loadCheckpoint(a, {optimizer: true})
  const cb = loadCheckpoint(b, {optimizer: true})
  for (const [name, w] of ca.weights) expect(Buffer.from(cb.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true)
  expect([...cb.optimizer!.keys()].sort()).toEqual([...ca.optimizer!.keys()].sort())
  for (const [name, m] of ca.optimizer!) expect(cb.optimizer!.get(name), name).toEqual(m)
  expect(runMetrics(b).map((m) => m.loss)).toEqual(runMetrics(a).map((m) => m.loss))
}

describe('training with each optimizer', () => {
  for (const optimizer of OPTIMIZERS) {
    it(`${optimizer} lowers the loss on real text`, async () => {
      const out = path.join(tmpDir(), 'run')
      const r = await train({config: tinyRun({steps: 40, eval_every: 20, batch: 8, optimizer}), dataDir: data, outDir: out})
      const rows = runMetrics(out)
      const first = rows.slice(0, 5).reduce((a, m) => a + m.loss, 0) / 5
      const last = rows.slice(-5).reduce((a, m) => a + m.loss, 0) / 5
      expect(last).toBeLessThan(first - 1)
      expect(rows[19].val_loss).toBeGreaterThan(rows[39].val_loss!)
      expect(r.val!.loss).toBeLessThan(4.5)
      const ck = loadCheckpoint(out, {optimizer: true})
      expect(ck.trainer).toMatchObject({step: 40, optimizer})
      expect(ck.meta.train!.optimizer).toBe(optimizer)
      expect(ck.optimizer!.get('step')).toEqual(Float32Array.of(40))
    })
  }

  for (const optimizer of ['came', 'adafactor'] as const) {
    it(`${optimizer} resumes bit-for-bit: 3 steps + 3 resumed steps equal 6 uninterrupted steps`, async () => {
      const base = tmpDir()
      const full = path.join(base, 'full')
      const split = path.join(base, 'split')
      await train({config: tinyRun({steps: 6, optimizer}), dataDir: data, outDir: full})
      await train({config: tinyRun({steps: 3, optimizer}), dataDir: data, outDir: split})
      await train({config: tinyRun({steps: 6, optimizer}), dataDir: data, outDir: split, resume: true})
      expectSameRun(full, split)
    })
  }

  it('--reset-optimizer switches optimizer on resume with a fresh state; a later resume stays exact', async () => {
    const base = tmpDir()
    const a = path.join(base, 'a')
    const b = path.join(base, 'b')
    for (const dir of [a, b]) await train({config: tinyRun({steps: 3}), dataDir: data, outDir: dir})
    await expect(train({config: tinyRun({steps: 6, optimizer: 'came'}), dataDir: data, outDir: a, resume: true})).rejects.toThrow(
      /uses optimizer 'adamw', not 'came'; pass --reset-optimizer/,
    )
    const came = tinyRun({steps: 6, optimizer: 'came', beta3: 0.999})
    await train({config: came, dataDir: data, outDir: a, resume: true, resetOptimizer: true})
    const ck = loadCheckpoint(a, {optimizer: true})
    expect(ck.trainer).toMatchObject({step: 6, optimizer: 'came'})
    expect(ck.meta.train).toMatchObject({optimizer: 'came', beta2: 0.999, beta3: 0.999, steps: 6})
    expect(ck.optimizer!.has('res_row.h.0.mlp.c_fc.weight')).toBe(true)
    expect(ck.optimizer!.has('v.h.0.mlp.c_fc.weight')).toBe(false)
    expect(ck.optimizer!.get('step')).toEqual(Float32Array.of(3)) // CAME's own count since the reset
    expect(runMetrics(a).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6])
    // The same switch stopped at step 5 and resumed (without reset) ends identical.
    const stop = new AbortController()
    const onEvent = (e: TrainEvent) => e.kind === 'step' && e.row.step === 5 && stop.abort()
    await train({config: came, dataDir: data, outDir: b, resume: true, resetOptimizer: true, signal: stop.signal, onEvent})
    expect(loadCheckpoint(b).trainer!.step).toBe(5)
    await train({config: came, dataDir: data, outDir: b, resume: true})
    expectSameRun(a, b)
  })
})

describe('train command', () => {
  afterEach(() => {
    vi.restoreAllMocks()
    process.exitCode = undefined
  })

  it('takes --optimizer, and on --resume refuses a different one without --reset-optimizer', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true) // --json output
    const out = path.join(tmpDir(), 'run')
    const run = (args: string[]) => Train.run([...args, '--backend', 'cpu', '--json'], {root: process.cwd()})
    const printed = () => JSON.parse(String(stdout.mock.calls.at(-1)?.[0]))
    const tiny = ['--data', data, '--layers', '1', '--d-model', '16', '--heads', '2', '--seq', '16', '--batch', '4', '--eval-every', '0']
    await run([...tiny, '-o', out, '--steps', '2', '--optimizer', 'adafactor'])
    expect(loadCheckpoint(out).meta.train).toMatchObject({optimizer: 'adafactor', decay_rate: -0.8})
    await run(['--resume', out, '--steps', '3', '--optimizer', 'came'])
    expect(process.exitCode).toBe(2)
    expect(printed().error.message).toMatch(/uses adafactor; add --reset-optimizer to switch/)
    expect(loadCheckpoint(out).trainer!.step).toBe(2)
    process.exitCode = undefined
    await run(['--resume', out, '--steps', '3', '--optimizer', 'came', '--reset-optimizer'])
    expect(process.exitCode).toBeUndefined()
    const ck = loadCheckpoint(out)
    expect(ck.trainer).toMatchObject({step: 3, optimizer: 'came'})
    expect(ck.meta.train).toMatchObject({optimizer: 'came', beta2: 0.999, beta3: 0.9999})
    await run(['--resume', out, '--steps', '4']) // the run is now a CAME run
    expect(loadCheckpoint(out).trainer).toMatchObject({step: 4, optimizer: 'came'})
    expect(printed()).toMatchObject({step: 4, steps: 4})
    await run([...tiny, '-o', path.join(tmpDir(), 'x'), '--reset-optimizer'])
    expect(process.exitCode).toBeGreaterThan(0)
    expect(printed().error).toMatchObject({oclif: {exit: 2}, message: expect.stringMatching(/must be provided when using --reset-optimizer: --resume/)})
  })
})
