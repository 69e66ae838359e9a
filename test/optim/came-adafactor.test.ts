import {describe, expect, it} from 'vitest'

import type {Schema} from '../../src/model/schema.js'
import {Adafactor, type AdafactorConfig} from '../../src/optim/adafactor.js'
import {CAME, type CameConfig} from '../../src/optim/came.js'
import {type Optimizer, type OptimizerKind, OPTIMIZERS, makeOptimizer} from '../../src/optim/index.js'
import {AdafactorRef, CameRef, type Mat, type RefTensor} from './reference.js'
import {mulberry32} from '../prng.js'

type Tensors = Map<string, Float32Array>

// A matrix (µP multiplier 0.5), a batch of two 3×2 matrices (factored over the last two dims) and a bias vector.
const schema: Schema = [
  {name: 'w', layer: null, module: 'w', shape: [3, 4], spaces: ['resid', 'ffn'], role: 'hidden', init: {kind: 'zeros'}},
  {name: 'e', layer: null, module: 'e', shape: [2, 3, 2], spaces: ['resid', 'ffn', 'resid'], role: 'hidden', init: {kind: 'zeros'}},
  {name: 'b', layer: null, module: 'b', shape: [5], spaces: ['resid'], role: 'bias', init: {kind: 'zeros'}},
]
const mult = new Map([['w', 0.5], ['b', 2]])

/** Uniform in [−0.5, 0.5). */
function rng(seed: number): () => number {
  const r = mulberry32(seed)
  return () => r() - 0.5
}

function randomTensors(seed: number, scale = 1): Tensors {
  const r = rng(seed)
  return new Map(schema.map((p) => [p.name, Float32Array.from({length: p.shape.reduce((a, b) => a * b, 1)}, () => scale * r())]))
}

const copy = (t: Tensors): Tensors => new Map([...t].map(([k, v]) => [k, Float32Array.from(v)]))

/** A flat tensor as the reference's list of n×m matrices (a vector: one 1×k row). */
function toMats(shape: number[], x: ArrayLike<number>): Mat[] {
  const [n, m] = shape.length >= 2 ? shape.slice(-2) : [1, shape[0]]
  const mats: Mat[] = []
  for (let o = 0; o < x.length; o += n * m) mats.push(Array.from({length: n}, (_, i) => Array.from({length: m}, (_, j) => x[o + i * m + j])))
  return mats
}

function refTensors(w: Tensors): RefTensor[] {
  return schema.map((p) => ({
    name: p.name,
    theta: toMats(p.shape, w.get(p.name)!),
    factored: p.shape.length >= 2,
    decays: p.role === 'hidden',
    mult: mult.get(p.name) ?? 1,
  }))
}

function expectClose(actual: ArrayLike<number>, expected: number[], what: string, rtol = 2e-5, atol = 1e-6): void {
  expect(actual.length, what).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i])
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) expect.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (±${tol})`)
  }
}

/** Row and column statistics of the reference (sums) as the implementation stores them (means). */
const rowMeans = (sums: number[][], m: number) => sums.flatMap((r) => r.map((x) => x / m))
const colMeans = (sums: number[][], n: number) => sums.flatMap((c) => c.map((x) => x / n))

const CAME_CFG: CameConfig = {beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps1: 1e-30, eps2: 1e-16, clip_threshold: 1, weight_decay: 0.1}

describe('CAME', () => {
  it('step 1 and 2 by hand: rank-1 g² makes v exact, û = sign(g), and m/√S = 0.1/√(1e-4·0.81) ≈ 11.1', () => {
    const s: Schema = [
      {name: 'w', layer: null, module: 'w', shape: [2, 2], spaces: ['resid', 'resid'], role: 'hidden', init: {kind: 'zeros'}},
      {name: 'b', layer: null, module: 'b', shape: [2], spaces: ['resid'], role: 'bias', init: {kind: 'zeros'}},
    ]
    const opt = new CAME(s, CAME_CFG, new Map([['b', 0.5]]))
    const w = new Map([['w', Float32Array.from([1, -1, 2, 0.5])], ['b', Float32Array.from([3, -3])]])
    const g = new Map([['w', Float32Array.from([1, 2, 2, 4])], ['b', Float32Array.from([0.5, -2])]])
    const lr = 0.01
    opt.update(w, g, lr)
    // g² = [1 4; 4 16] = [1 4]ᵀ[1 4]: r = 1e-3·[5 20] (sums), c = 1e-3·[5 20], v = r cᵀ/Σr = 1e-3·g², u = 1/√1e-3 ≈ 31.6,
    // RMS(u) > 1 → û = 1, m = 0.1, U = 0.9², S = 1e-4·0.81, step = 0.1/0.009 = 11.11…
    const step1 = 0.1 / Math.sqrt(1e-4 * 0.81)
    expectClose(w.get('w')!, [1, -1, 2, 0.5].map((x) => x * (1 - lr * 0.1) - lr * step1), 'w after step 1')
    const st = opt.stateTensors()
    expectClose(st.get('v_row.w')!, [(1e-3 * 5) / 2, (1e-3 * 20) / 2], 'v_row (row means)', 1e-6, 0)
    expectClose(st.get('v_col.w')!, [(1e-3 * 5) / 2, (1e-3 * 20) / 2], 'v_col (column means)', 1e-6, 0)
    expectClose(st.get('res_row.w')!, [1e-4 * 0.81, 1e-4 * 0.81], 'res_row', 1e-5, 0)
    expectClose(st.get('m.w')!, [0.1, 0.1, 0.1, 0.1], 'm')
    // The bias: full v, û = sign(g), no confidence term, no decay, LR × 0.5: θ −= 0.005·0.1·sign(g).
    expectClose(w.get('b')!, [3 - 0.005 * 0.1, -3 + 0.005 * 0.1], 'b after step 1')

    const w1 = Float32Array.from(w.get('w')!)
    opt.update(w, g, lr)
    // v = (1 − β2²)·g² → û = 1 again; m = 0.19; U = 0.81²; S = β3·1e-4·0.81 + 1e-4·0.81².
    const S2 = 0.9999 * 1e-4 * 0.81 + 1e-4 * 0.81 ** 2
    expectClose(w.get('w')!, Array.from(w1, (x) => x * (1 - lr * 0.1) - (lr * 0.19) / Math.sqrt(S2)), 'w after step 2')
    expect(opt.step).toBe(2)
  })

  it('matches the float64 reference from the paper over several steps: weights, row/column statistics, confidence', () => {
    const opt = new CAME(schema, CAME_CFG, mult)
    const ref = new CameRef({beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps1: 1e-30, eps2: 1e-16, d: 1, wd: 0.1})
    const w = randomTensors(1)
    const rt = refTensors(w)
    for (let t = 1; t <= 6; t++) {
      const g = randomTensors(100 + t, t === 3 ? 50 : 1) // step 3 has big gradients (clipping on all tensors)
      const lr = 0.01 / t
      opt.update(w, g, lr)
      for (const r of rt) ref.step(r, toMats(schema.find((p) => p.name === r.name)!.shape, g.get(r.name)!), lr)
      const st = opt.stateTensors()
      for (const [i, p] of schema.entries()) {
        expectClose(w.get(p.name)!, rt[i].theta.flat(2), `step ${t} ${p.name}`)
        const s = ref.state.get(p.name)!
        expectClose(st.get(`m.${p.name}`)!, s.m.flat(2), `step ${t} m.${p.name}`)
        if (p.shape.length >= 2) {
          const [n, m] = p.shape.slice(-2)
          expectClose(st.get(`v_row.${p.name}`)!, rowMeans(s.r, m), `step ${t} v_row.${p.name}`)
          expectClose(st.get(`v_col.${p.name}`)!, colMeans(s.c, n), `step ${t} v_col.${p.name}`)
          expectClose(st.get(`res_row.${p.name}`)!, rowMeans(s.R, m), `step ${t} res_row.${p.name}`)
          expectClose(st.get(`res_col.${p.name}`)!, colMeans(s.C, n), `step ${t} res_col.${p.name}`)
        } else {
          expectClose(st.get(`v.${p.name}`)!, s.v.flat(2), `step ${t} v.${p.name}`)
        }
      }
    }
  })
})

const ADAFACTOR_CFG: AdafactorConfig = {
  beta1: 0, beta2: 1, eps1: 1e-30, eps2: 1e-3, clip_threshold: 1, decay_rate: -0.8, scale_parameter: false, weight_decay: 0.1,
}

describe('Adafactor', () => {
  it('step 1 by hand: β̂2 = 0 so v = r cᵀ/Σr of g² itself; the factored estimate spreads mass off a diagonal', () => {
    const s: Schema = [
      {name: 'w', layer: null, module: 'w', shape: [2, 2], spaces: ['resid', 'resid'], role: 'hidden', init: {kind: 'zeros'}},
      {name: 'b', layer: null, module: 'b', shape: [2], spaces: ['resid'], role: 'bias', init: {kind: 'zeros'}},
    ]
    const opt = new Adafactor(s, ADAFACTOR_CFG)
    const w = new Map([['w', Float32Array.from([1, 1, 1, 1])], ['b', Float32Array.from([3, -3])]])
    // g² = I: row sums [1 1], column sums [1 1], Σr = 2 → v = ½ everywhere, u = g·√2, RMS(u) = 1: no clipping.
    const g = new Map([['w', Float32Array.from([1, 0, 0, 1])], ['b', Float32Array.from([0.5, -2])]])
    opt.update(w, g, 0.01)
    const d = 1 - 0.01 * 0.1
    expectClose(w.get('w')!, [d - 0.01 * Math.SQRT2, d, d, d - 0.01 * Math.SQRT2], 'w')
    expectClose(opt.stateTensors().get('v_row.w')!, [0.5, 0.5], 'v_row (row means of g²)')
    expectClose(opt.stateTensors().get('v_col.w')!, [0.5, 0.5], 'v_col (column means of g²)')
    expectClose(w.get('b')!, [3 - 0.01, -3 + 0.01], 'b: v = g², u = sign(g), no decay')
    // Step 2 with g = 3·I: β̂2 = 1 − 2^−0.8; v = ½·(β̂2 + 9(1 − β̂2)); u = 3√2/√(…)·I; clipped to RMS 1 → u = √2·I.
    const w1 = Float32Array.from(w.get('w')!)
    opt.update(w, new Map([['w', Float32Array.from([3, 0, 0, 3])], ['b', Float32Array.from([0, 0])]]), 0.01)
    const b2 = 1 - 2 ** -0.8
    const u = 3 / Math.sqrt(0.5 * (b2 + 9 * (1 - b2)))
    expect(u / Math.sqrt(2)).toBeGreaterThan(1) // RMS(u) = u/√2 > 1: clipped
    expectClose(w.get('w')!, [w1[0] * d - 0.01 * Math.SQRT2, w1[1] * d, w1[2] * d, w1[3] * d - 0.01 * Math.SQRT2], 'w step 2')
    expectClose(opt.stateTensors().get('v_row.w')!, [0.5 * (b2 + 9 * (1 - b2)), 0.5 * (b2 + 9 * (1 - b2))], 'v_row step 2')
  })

  for (const variant of [
    {name: 'defaults (β1 none)', cfg: {}},
    {name: 'β1 = 0.9, β̂2 capped at 0.5', cfg: {beta1: 0.9, beta2: 0.5}},
    {name: 'scale_parameter', cfg: {scale_parameter: true, decay_rate: -0.5}},
  ]) {
    it(`matches the float64 reference from the paper over several steps: ${variant.name}`, () => {
      const cfg = {...ADAFACTOR_CFG, ...variant.cfg}
      const opt = new Adafactor(schema, cfg, mult)
      const ref = new AdafactorRef({
        beta1: cfg.beta1, beta2: cfg.beta2, eps1: cfg.eps1, eps2: cfg.eps2, d: cfg.clip_threshold, decayRate: cfg.decay_rate,
        scaleParameter: cfg.scale_parameter, wd: cfg.weight_decay,
      })
      const w = randomTensors(2)
      w.get('b')!.fill(0) // RMS(θ) = 0 < eps2: scale_parameter's floor
      const rt = refTensors(w)
      for (let t = 1; t <= 6; t++) {
        const g = randomTensors(200 + t, t === 4 ? 0.001 : 1)
        const lr = 0.02
        opt.update(w, g, lr)
        ref.tick()
        for (const r of rt) ref.step(r, toMats(schema.find((p) => p.name === r.name)!.shape, g.get(r.name)!), lr)
        const st = opt.stateTensors()
        for (const [i, p] of schema.entries()) {
          expectClose(w.get(p.name)!, rt[i].theta.flat(2), `step ${t} ${p.name}`)
          const s = ref.state.get(p.name)!
          if (p.shape.length >= 2) {
            const [n, m] = p.shape.slice(-2)
            expectClose(st.get(`v_row.${p.name}`)!, rowMeans(s.r, m), `step ${t} v_row.${p.name}`)
            expectClose(st.get(`v_col.${p.name}`)!, colMeans(s.c, n), `step ${t} v_col.${p.name}`)
          } else {
            expectClose(st.get(`v.${p.name}`)!, s.v.flat(2), `step ${t} v.${p.name}`)
          }
          if (cfg.beta1 > 0) expectClose(st.get(`m.${p.name}`)!, s.m.flat(2), `step ${t} m.${p.name}`)
          else expect(st.has(`m.${p.name}`)).toBe(false)
        }
      }
    })
  }
})

describe('makeOptimizer', () => {
  const settings = {weight_decay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8}

  it('builds each kind; a missing optional setting takes the method default', () => {
    for (const kind of OPTIMIZERS) expect(makeOptimizer(kind, schema, kind === 'adafactor' ? {...settings, beta1: 0} : settings).kind).toBe(kind)
    const came = makeOptimizer('came', schema, settings) as CAME
    expect(came.cfg).toEqual({beta1: 0.9, beta2: 0.99, beta3: 0.9999, eps1: 1e-8, eps2: 1e-16, clip_threshold: 1, weight_decay: 0.1})
    const af = makeOptimizer('adafactor', schema, {...settings, beta1: 0, beta2: 1, eps: 1e-30, decay_rate: -0.5}) as Adafactor
    expect(af.cfg).toMatchObject({decay_rate: -0.5, eps2: 1e-3, clip_threshold: 1, scale_parameter: false})
  })

  it('reports state bytes: AdamW 2 floats per parameter, CAME m + factored statistics, Adafactor only the statistics', () => {
    const n = 12 + 12 + 5 // parameters
    const stats = 3 + 4 + 2 * (3 + 2) // row + column statistics of w [3,4] and e [2,3,2]
    const bytes = (kind: OptimizerKind, extra = {}) => makeOptimizer(kind, schema, {...settings, ...extra}).stateBytes()
    expect(bytes('adamw')).toBe(4 * (2 * n + 1))
    expect(bytes('came')).toBe(4 * (n + 2 * stats + 5 + 1)) // m, (v, res) rows/cols, the bias's full v, step
    expect(bytes('adafactor', {beta1: 0})).toBe(4 * (stats + 5 + 1))
    expect(bytes('adafactor', {beta1: 0.9})).toBe(4 * (n + stats + 5 + 1))
    for (const kind of OPTIMIZERS) {
      const o = makeOptimizer(kind, schema, {...settings, beta1: kind === 'adafactor' ? 0 : 0.9})
      const total = [...o.stateTensors().values()].reduce((s, t) => s + t.length, 0)
      expect(o.stateBytes(), kind).toBe(4 * total)
    }
  })
})

describe('resume', () => {
  const cases: [string, () => Optimizer][] = [
    ['adamw', () => makeOptimizer('adamw', schema, {weight_decay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8}, mult)],
    ['came', () => makeOptimizer('came', schema, {weight_decay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-30}, mult)],
    ['adafactor', () => makeOptimizer('adafactor', schema, {weight_decay: 0.1, beta1: 0, beta2: 1, eps: 1e-30}, mult)],
    ['adafactor β1', () => makeOptimizer('adafactor', schema, {weight_decay: 0.1, beta1: 0.9, beta2: 1, eps: 1e-30}, mult)],
  ]
  for (const [name, make] of cases) {
    it(`${name}: save state → new optimizer → load → identical next steps`, () => {
      const a = make()
      const wa = randomTensors(3)
      for (let t = 1; t <= 3; t++) a.update(wa, randomTensors(300 + t), 0.01)
      const saved = copy(a.stateTensors()) // as a checkpoint would hold it
      expect(saved.get('step')).toEqual(Float32Array.of(3))
      const b = make()
      b.loadState(saved, 999) // the saved step wins over the fallback
      expect(b.step).toBe(3)
      const wb = copy(wa)
      for (let t = 4; t <= 6; t++) {
        const g = randomTensors(300 + t)
        a.update(wa, g, 0.01)
        b.update(wb, copy(g), 0.01)
      }
      for (const [k, x] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(x.buffer)), k).toBe(true)
      expect(b.stateTensors()).toEqual(a.stateTensors())
      // A state without a step count takes the fallback; missing or mis-sized tensors are named.
      const noStep = copy(saved)
      noStep.delete('step')
      const c = make()
      c.loadState(noStep, 7)
      expect(c.step).toBe(7)
      const first = [...saved.keys()].find((k) => k !== 'step')!
      const missing = copy(saved)
      missing.delete(first)
      expect(() => make().loadState(missing, 3)).toThrow(new RegExp(`missing '${first.replace('.', '\\.')}'`))
      const wrong = copy(saved)
      wrong.set(first, new Float32Array(1))
      expect(() => make().loadState(wrong, 3)).toThrow(/has 1 values, expected/)
    })
  }
})
