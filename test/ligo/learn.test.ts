// Operator learning without a materialisation tape (src/ligo/learn.ts): gradient accumulation over micro-batches
// is one step over their rows, either engine gives the same step, and `ligo grow --method ligo` learns the same
// operator as the previous path (a tape through growTensor, kept below as the reference) over a few steps.
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {loadNative} from '../../src/compute/native.js'
import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors} from '../../src/checkpoints/safetensors.js'
import {BatchSampler} from '../../src/data/batches.js'
import {loadDataDir} from '../../src/data/prepare.js'
import {Rng} from '../../src/data/rng.js'
import {grow} from '../../src/ligo/grow.js'
import {OperatorLearner} from '../../src/ligo/learn.js'
import {type OperatorTensors, growTensor, materializeFlops, operatorConstants, sourceTensors} from '../../src/ligo/materialize.js'
import {initOperator, learnables, operatorTensors} from '../../src/ligo/operator.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {lossOf, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import type {Schema} from '../../src/model/schema.js'
import {AdamW} from '../../src/optim/adamw.js'
import {clipGlobalNorm} from '../../src/optim/clip.js'
import {lrAt} from '../../src/optim/schedule.js'
import {trainFlopsPerToken} from '../../src/train/flops.js'
import {type Batch, valueAndGradsInto} from '../../src/train/step.js'
import {relErr, smallBrown, tmpDir, trainedSource, useCpu} from '../helpers.js'

const native = loadNative().addon !== null
const SMALL = modelConfig({vocab_size: 64, n_positions: 8, n_layer: 2, d_model: 16, n_head: 2, d_ffn: 32})
const LARGE = growConfig(SMALL, {width: 24, depth: 3})

function learner(engine: 'native' | 'tfjs', fullWidth = true) {
  const op = initOperator(SMALL, LARGE, schemaOf(LARGE), {width: 'rand', depth: 'stack', depthNoise: 0.03, fullWidth, seed: 2})
  return new OperatorLearner(op, initWeights(schemaOf(SMALL), 3), {depthLrMult: 1, weightDecay: 0.01, gradClip: 0, learnWidth: true, learnDepth: true}, {engine})
}

function batch(rows: number, seed: number): Batch {
  const r = new Rng(seed)
  const T = 8
  const inputs = Int32Array.from({length: rows * T}, () => r.int(64))
  const targets = Int32Array.from({length: rows * T}, () => r.int(64))
  return {inputs, targets, batch: rows, seq: T}
}

function rows(b: Batch, from: number, to: number): Batch {
  const T = b.seq
  return {inputs: b.inputs.slice(from * T, to * T), targets: b.targets.slice(from * T, to * T), batch: to - from, seq: T}
}

beforeAll(useCpu)

describe('operator learning', () => {
  it('accumulating k micro-batches of b rows is one step over the k·b rows (loss, gradients, update)', async () => {
    const whole = batch(6, 5)
    for (const k of [2, 3]) {
      const a = learner(native ? 'native' : 'tfjs')
      const b = learner(native ? 'native' : 'tfjs')
      for (let step = 0; step < 2; step++) {
        const big = step === 0 ? whole : batch(6, 9)
        const micro = Array.from({length: k}, (_, m) => rows(big, (m * 6) / k, ((m + 1) * 6) / k))
        const ra = a.step(micro, 1e-3)
        const rb = b.step([big], 1e-3)
        expect(Math.abs(ra.loss - rb.loss), `k=${k} step ${step}`).toBeLessThan(1e-5 * rb.loss)
        expect(Math.abs(ra.gradNorm - rb.gradNorm) / rb.gradNorm).toBeLessThan(1e-4)
        for (const [n, g] of rb.grads) expect(relErr(ra.grads.get(n)!, g), `k=${k} step ${step} ${n}`).toBeLessThan(1e-4)
      }
      for (const [n, t] of a.learnable) expect(relErr(t, b.learnable.get(n)!), n).toBeLessThan(1e-4)
    }
  })

  it.skipIf(!native)('the native and tfjs engines take the same step', async () => {
    const a = learner('native')
    const b = learner('tfjs')
    for (let step = 0; step < 2; step++) {
      const micro = [batch(2, 20 + step), batch(2, 30 + step)]
      const ra = a.step(micro, 1e-3)
      const rb = b.step(micro, 1e-3)
      expect(Math.abs(ra.loss - rb.loss)).toBeLessThan(1e-5 * rb.loss)
      // Relative to the whole gradient: a depth coefficient's gradient is a long sum (Σ_i G0_i·W_j,i) that cancels
      // to far below its terms, which tfjs adds in float32 and the addon in double.
      for (const [n, g] of rb.grads) {
        const a = ra.grads.get(n)!
        let err = 0
        for (let i = 0; i < g.length; i++) err = Math.max(err, Math.abs(a[i] - g[i]))
        expect(err / rb.gradNorm, n).toBeLessThan(1e-5)
      }
    }
    for (const [n, w] of b.weights()) expect(relErr(a.weights().get(n)!, w), n).toBeLessThan(1e-4)
  })

  it('reuses the grown weights\' arrays across steps and rebuilds them only after the operator moved', async () => {
    const l = learner(native ? 'native' : 'tfjs', false)
    const w0 = l.weights()
    const before = new Map([...w0].map(([n, a]) => [n, Float32Array.from(a)]))
    expect(l.weights()).toBe(w0)
    const r = l.step([batch(2, 40)], 1e-2)
    expect(r.ms.materialize).toBeGreaterThanOrEqual(0)
    const w1 = l.weights()
    for (const [n, a] of w1) expect(a, n).toBe(w0.get(n)) // same arrays, refilled
    expect([...w1].some(([n, a]) => a.some((x, i) => x !== before.get(n)![i]))).toBe(true)
  })
})

describe('ligo grow learns the operator the previous path learned', () => {
  let data: string
  let source: string
  beforeAll(async () => {
    data = await smallBrown()
    source = await trainedSource(data, {steps: 10, batch: 4, lr: 0.01})
  })

  it('same operator after a few steps, tied µP-free GPT-2, full width', async () => {
    const s = loadCheckpoint(source)
    const lt = {steps: 4, lr: 3e-3, warmup: 1, batch: 4, seq: 16, widthInit: 'rand' as const, depthInit: 'stack' as const, depthNoise: 0.03,
      fullWidth: true, weightDecay: 0.01, gradClip: 1}
    const seed = 7
    const out = path.join(tmpDir(), 'new')
    await initBackend(native ? 'native' : 'cpu')
    await grow({source: s, target: {width: 24, depth: 3}, method: 'ligo', out, dataDir: data, evalBatches: 0, seed, ligo: lt})
    const got = readSafetensors(path.join(out, 'ligo.safetensors')).tensors

    // The previous path: every step a tape through growTensor of every grown tensor, the operator's arrays the
    // differentiated inputs (grow.ts before the tape-free materialisation).
    const small = s.meta.model
    const large = growConfig(small, {width: 24, depth: 3})
    const schema = schemaOf(large)
    const op = initOperator(small, large, schema, {width: lt.widthInit, depth: lt.depthInit, depthNoise: lt.depthNoise, fullWidth: true, seed})
    const initial = new Map([...operatorTensors(op)].map(([k, v]) => [k, Float32Array.from(v.data)]))
    const learnable = learnables(op, {width: true, depth: true})
    const names = [...learnable.keys()]
    const pseudo: Schema = names.map((name) => ({name, layer: null, module: name, shape: [learnable.get(name)!.length], spaces: ['resid'],
      role: name.startsWith('width') ? 'hidden' : 'gain', init: {kind: 'zeros'}}))
    const opt = new AdamW(pseudo, {beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: lt.weightDecay})
    const src = sourceTensors(small, s.weights)
    const fixed = operatorConstants(op)
    for (const n of names) {
      fixed.get(n)!.dispose()
      fixed.delete(n)
    }
    const shapes = new Map([...operatorTensors(op)].map(([k, v]) => [k, v.shape]))
    const dataDir = loadDataDir(data)
    try {
      const sampler = new BatchSampler(dataDir.train, {batch: lt.batch, seq: lt.seq, seed})
      for (let step = 0; step < lt.steps; step++) {
        const lr = lrAt(step, {lr: lt.lr, warmup: lt.warmup, steps: lt.steps, schedule: 'linear', min_lr_ratio: 0})
        const b = sampler.sample(step)
        const grads = new Map<string, Float32Array>()
        valueAndGradsInto(names.map((name) => ({name, shape: shapes.get(name)!})), learnable, (vars) => {
          const t: OperatorTensors = new Map([...fixed, ...vars])
          return lossOf(large, new Map(schema.map((P) => [P.name, growTensor(P, schema, op, src, t)])), b.inputs, b.targets, b.batch, b.seq)
        }, grads)
        clipGlobalNorm(grads.values(), lt.gradClip)
        opt.update(learnable, grads, lr)
      }
    } finally {
      src.dispose()
      for (const t of fixed.values()) t.dispose()
      dataDir.close()
      await initBackend('cpu')
    }
    let moved = 0
    for (const [n, want] of operatorTensors(op)) {
      const g = got.get(n)!.data as Float32Array
      let err = 0
      for (let i = 0; i < g.length; i++) err = Math.max(err, Math.abs(g[i] - want.data[i]))
      // Adam moves each entry by ≤ ~lr per step: 4 steps at ≤ 3e-3 move ≲ 1e-2; the paths agree to far less.
      expect(err, n).toBeLessThan(2e-5)
      const init = initial.get(n)!
      for (let i = 0; i < g.length; i++) moved = Math.max(moved, Math.abs(g[i] - init[i]))
    }
    expect(moved).toBeGreaterThan(1e-3) // the comparison is not between two unmoved operators
  })

  it('--accum: the operator batch is batch × accum sequences (FLOPs, provenance); a bad value is refused', async () => {
    const s = loadCheckpoint(source)
    const out = path.join(tmpDir(), 'accum')
    const r = await grow({source: s, target: {width: 24}, method: 'ligo', out, dataDir: data, evalBatches: 0, seed: 2,
      ligo: {steps: 2, warmup: 0, batch: 2, accum: 3, seq: 16}})
    const large = growConfig(s.meta.model, {width: 24})
    const op = initOperator(s.meta.model, large, schemaOf(large), {width: 'rand', depth: 'stack', depthNoise: 0, fullWidth: false, seed: 2})
    expect(r.flops_per_step).toBe(trainFlopsPerToken(large, schemaOf(large), 16) * 2 * 3 * 16 + 3 * materializeFlops(op))
    expect(Number.isFinite(r.loss_last!)).toBe(true)
    const prov = loadCheckpoint(out).meta.provenance as {growth: {ligo: {accum: number; batch: number}}}
    expect(prov.growth.ligo).toMatchObject({accum: 3, batch: 2})
    await expect(grow({source: s, target: {width: 24}, method: 'ligo', out: path.join(tmpDir(), 'bad'), dataDir: data, ligo: {accum: 0}}))
      .rejects.toThrow(/--accum 0: expected a whole number of micro-batches ≥ 1/)
  })
})
