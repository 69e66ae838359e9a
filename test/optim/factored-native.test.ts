/**
 * The native CAME/Adafactor kernels (native/optim_factored.cc) against the TS loops of src/optim/came.ts and
 * adafactor.ts, which are the reference: several steps on non-square matrices (factored), a batch of matrices, a
 * matrix large enough to be split over threads, and vectors (unfactored, lengths not a multiple of the SIMD width),
 * with and without weight decay and with µP lr/wd multipliers; weights and every state tensor must agree to float32
 * tolerance. Skipped when the addon is not built.
 */
import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'

import {factoredOptimAddon, setNativeFactoredOptimizers} from '../../src/compute/optim-kernels.js'
import {PACKAGE_ROOT, nativeAddon} from '../../src/compute/native.js'
import type {Schema} from '../../src/model/schema.js'
import {Adafactor, type AdafactorConfig} from '../../src/optim/adafactor.js'
import {CAME, type CameConfig} from '../../src/optim/came.js'
import type {Optimizer} from '../../src/optim/index.js'
import {mulberry32} from '../prng.js'

type Tensors = Map<string, Float32Array>

const HAVE_ADDON = nativeAddon() !== null

// Non-square matrices both ways round (a row/column mix-up cannot hide behind equal sizes), a batch of three
// 20×36 matrices (factored over the last two dims), one matrix large enough for several row blocks and both
// threads (and an odd column count), and vectors whose lengths are not multiples of 8.
const schema: Schema = [
  {name: 'wide', layer: null, module: 'wide', shape: [24, 80], spaces: ['resid', 'ffn'], role: 'hidden', init: {kind: 'zeros'}},
  {name: 'tall', layer: null, module: 'tall', shape: [96, 40], spaces: ['ffn', 'resid'], role: 'hidden', init: {kind: 'zeros'}},
  {name: 'batch', layer: null, module: 'batch', shape: [3, 20, 36], spaces: ['resid', 'ffn', 'resid'], role: 'hidden',
    init: {kind: 'zeros'}},
  {name: 'big', layer: null, module: 'big', shape: [300, 257], spaces: ['resid', 'ffn'], role: 'embedding', init: {kind: 'zeros'}},
  {name: 'emb', layer: null, module: 'emb', shape: [64, 33], spaces: ['vocab', 'resid'], role: 'embedding', init: {kind: 'zeros'}},
  {name: 'bias', layer: null, module: 'bias', shape: [37], spaces: ['resid'], role: 'bias', init: {kind: 'zeros'}},
  {name: 'gain', layer: null, module: 'gain', shape: [80], spaces: ['resid'], role: 'gain', init: {kind: 'ones'}},
  // A vector that decays (no model has one; it exercises the vector kernels' weight-decay term).
  {name: 'vdecay', layer: null, module: 'vdecay', shape: [45], spaces: ['resid'], role: 'hidden', init: {kind: 'zeros'}},
]
const lrMult = new Map([['wide', 0.25], ['tall', 0.5], ['big', 0.125], ['bias', 2]])
const wdMult = new Map([['wide', 4], ['big', 8], ['vdecay', 3]])

/** Uniform in [−0.5, 0.5). */
function rng(seed: number): () => number {
  const r = mulberry32(seed)
  return () => r() - 0.5
}

const shapeOf = (name: string) => schema.find((p) => p.name === name)!.shape
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)

function weights(seed: number): Tensors {
  const r = rng(seed)
  return new Map(schema.map((p) => [p.name, Float32Array.from({length: size(p.shape)}, () => (p.role === 'gain' ? 1 : 0) + 0.1 * r())]))
}

/**
 * Gradients with strong row and column structure, g = s_i·t_j·(1 + noise), scales spread over ~2 decades (and per
 * matrix of a batch), so the row and column statistics differ a lot from each other and from their means.
 */
function grads(seed: number): Tensors {
  const r = rng(seed)
  const scale = () => Math.exp(2.3 * 2 * r()) // e^±2.3: about 0.1..10
  const out: Tensors = new Map()
  for (const p of schema) {
    const [R, C] = p.shape.length >= 2 ? p.shape.slice(-2) : [1, p.shape[0]]
    const M = size(p.shape) / (R * C)
    const g = new Float32Array(size(p.shape))
    for (let mi = 0; mi < M; mi++) {
      const s = Array.from({length: R}, scale)
      const t = Array.from({length: C}, scale)
      const k = 1e-3 * (mi + 1)
      for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) g[(mi * R + i) * C + j] = k * s[i] * t[j] * (1 + 0.3 * r())
    }
    out.set(p.name, g)
  }
  return out
}

const copy = (t: Tensors): Tensors => new Map([...t].map(([k, v]) => [k, Float32Array.from(v)]))

/** |a − b| ≤ rtol·|b| + atol·max|b| element-wise (the atol part scaled to the tensor's own magnitude). */
function expectClose(actual: Float32Array, expected: Float32Array, what: string, rtol = 1e-5, atol = 1e-6): void {
  expect(actual.length, `${what} length`).toBe(expected.length)
  let top = 0
  for (const x of expected) top = Math.max(top, Math.abs(x))
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * Math.abs(expected[i]) + atol * top
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) expect.fail(`${what}[${i}]: native ${actual[i]}, TS ${expected[i]} (±${tol})`)
  }
}

/** Runs `make()` on the TS loops and on the native kernels in lockstep for `steps` updates and compares them. */
function compareStepwise(make: () => Optimizer, steps: number, lr = 0.01): {ts: Optimizer; native: Optimizer; w: Tensors} {
  setNativeFactoredOptimizers(false)
  const ts = make()
  setNativeFactoredOptimizers(true)
  const native = make()
  const wTs = weights(7)
  const wNative = copy(wTs)
  for (let t = 1; t <= steps; t++) {
    const g = grads(100 + t)
    setNativeFactoredOptimizers(false)
    ts.update(wTs, g, lr)
    setNativeFactoredOptimizers(true)
    native.update(wNative, copy(g), lr)
    for (const [k, x] of wTs) expectClose(wNative.get(k)!, x, `step ${t} weight ${k}`)
    const sTs = ts.stateTensors()
    const sNative = native.stateTensors()
    expect([...sNative.keys()]).toEqual([...sTs.keys()])
    for (const [k, x] of sTs) expectClose(sNative.get(k)!, x, `step ${t} state ${k}`)
  }
  // The weights moved: the comparison is not between two untouched copies.
  const w0 = weights(7)
  for (const [k, x] of wNative) expect(x.some((v, i) => Math.abs(v - w0.get(k)![i]) > 1e-5), `${k} moved`).toBe(true)
  return {ts, native, w: wNative}
}

const CAME_BASE: CameConfig = {beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps1: 1e-30, eps2: 1e-16, clip_threshold: 1, weight_decay: 0}
const ADAFACTOR_BASE: AdafactorConfig = {
  beta1: 0, beta2: 1, eps1: 1e-30, eps2: 1e-3, clip_threshold: 1, decay_rate: -0.8, scale_parameter: false, weight_decay: 0,
}

describe.skipIf(!HAVE_ADDON)('native CAME / Adafactor kernels match the TS loops', () => {
  afterEach(() => setNativeFactoredOptimizers(true))

  it('the optimizers take the native path when the addon is loaded, and the TS path when it is turned off', () => {
    expect(factoredOptimAddon()).not.toBeNull()
    setNativeFactoredOptimizers(false)
    expect(factoredOptimAddon()).toBeNull()
  })

  const cameCases: [string, Partial<CameConfig>][] = [
    ['defaults, no weight decay', {}],
    ['weight decay 0.1', {weight_decay: 0.1}],
    ['weight decay, tight clipping (d = 0.3) and β3 = 0.99', {weight_decay: 0.1, clip_threshold: 0.3, beta3: 0.99}],
  ]
  for (const [name, cfg] of cameCases) {
    it(`CAME, ${name}: 6 steps`, () => {
      compareStepwise(() => new CAME(schema, {...CAME_BASE, ...cfg}, lrMult, wdMult), 6)
    })
  }

  const adafactorCases: [string, Partial<AdafactorConfig>][] = [
    ['β1 = 0, no weight decay', {}],
    ['β1 = 0, weight decay 0.1', {weight_decay: 0.1}],
    ['β1 = 0.9, weight decay 0.1', {beta1: 0.9, weight_decay: 0.1}],
    ['β1 = 0.9, no weight decay, β2 capped at 0.9', {beta1: 0.9, beta2: 0.9}],
    ['scale_parameter, weight decay, tight clipping', {scale_parameter: true, weight_decay: 0.1, clip_threshold: 0.3}],
  ]
  for (const [name, cfg] of adafactorCases) {
    it(`Adafactor, ${name}: 6 steps`, () => {
      compareStepwise(() => new Adafactor(schema, {...ADAFACTOR_BASE, ...cfg}, lrMult, wdMult), 6)
    })
  }

  it('the test gradients make the row and column statistics far from uniform (a swapped factor would show)', () => {
    const {native} = compareStepwise(() => new Adafactor(schema, ADAFACTOR_BASE, lrMult, wdMult), 1)
    const st = native.stateTensors()
    for (const name of ['wide', 'tall', 'big']) {
      for (const slot of ['v_row', 'v_col']) {
        const x = st.get(`${slot}.${name}`)!
        expect(Math.max(...x) / Math.min(...x), `${slot}.${name} spread`).toBeGreaterThan(100)
      }
    }
  })

  it('Adafactor step 1 by hand, non-square: g = s_i·t_j gives v_row = s²·mean(t²), v_col = t²·mean(s²), u = sign(g)', () => {
    // Batch of two 3×5 matrices: row statistics are 6 floats and column statistics 10 (sizes a swap cannot fit).
    const s1: Schema = [
      {name: 'w', layer: null, module: 'w', shape: [2, 3, 5], spaces: ['resid', 'resid', 'ffn'], role: 'hidden', init: {kind: 'zeros'}},
    ]
    const s = [[1, -2, 3], [0.5, 4, -1]]
    const t = [[1, 2, -3, 0.25, 5], [-2, 1, 1, 3, 0.5]]
    const g = new Float32Array(30)
    for (let mi = 0; mi < 2; mi++) for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) g[(mi * 3 + i) * 5 + j] = s[mi][i] * t[mi][j]
    const w = Float32Array.from({length: 30}, (_, k) => 0.01 * k)
    const lr = 0.01
    const mean = (v: number[]) => v.reduce((a, b) => a + b * b, 0) / v.length // mean of squares
    const vRow = s.flatMap((si, mi) => si.map((x) => x * x * mean(t[mi])))
    const vCol = t.flatMap((tj, mi) => tj.map((x) => x * x * mean(s[mi])))
    for (const path of ['TS', 'native']) {
      setNativeFactoredOptimizers(path === 'native')
      const opt = new Adafactor(s1, {...ADAFACTOR_BASE, weight_decay: 0.5})
      const wn = new Map([['w', Float32Array.from(w)]])
      opt.update(wn, new Map([['w', g]]), lr)
      const st = opt.stateTensors()
      expectClose(st.get('v_row.w')!, Float32Array.from(vRow), `${path} v_row`)
      expectClose(st.get('v_col.w')!, Float32Array.from(vCol), `${path} v_col`)
      expectClose(wn.get('w')!, Float32Array.from(w, (x, k) => x * (1 - lr * 0.5) - lr * Math.sign(g[k])), `${path} w`)
    }
  })

  it('checkpointed state keeps its format: the same names and sizes, and a state saved on one path resumes on the other', () => {
    for (const make of [
      () => new CAME(schema, {...CAME_BASE, weight_decay: 0.1}, lrMult, wdMult),
      () => new Adafactor(schema, {...ADAFACTOR_BASE, beta1: 0.9, weight_decay: 0.1}, lrMult, wdMult),
    ]) {
      const {ts, native, w} = compareStepwise(make, 3)
      const saved = copy(native.stateTensors())
      const tsKeys = [...ts.stateTensors()].map(([k, v]) => [k, v.length])
      expect([...saved].map(([k, v]) => [k, v.length])).toEqual(tsKeys)
      expect(saved.get('step')).toEqual(Float32Array.of(3))
      // Native state → TS optimizer and native optimizer: the next steps agree.
      setNativeFactoredOptimizers(false)
      const onTs = make()
      onTs.loadState(copy(saved), 0)
      setNativeFactoredOptimizers(true)
      const onNative = make()
      onNative.loadState(copy(saved), 0)
      const wTs = copy(w)
      const wNative = copy(w)
      for (let t = 4; t <= 5; t++) {
        const g = grads(200 + t)
        setNativeFactoredOptimizers(false)
        onTs.update(wTs, g, 0.01)
        setNativeFactoredOptimizers(true)
        onNative.update(wNative, copy(g), 0.01)
      }
      for (const [k, x] of wTs) expectClose(wNative.get(k)!, x, `resumed weight ${k}`)
      for (const [k, x] of onTs.stateTensors()) expectClose(onNative.stateTensors().get(k)!, x, `resumed state ${k}`)
    }
  })

  it('the AVX2 and scalar variants (LIGO_ISA, in child processes) give the default one\'s results; 1 thread gives them bit for bit', () => {
    const script = fileURLToPath(new URL('./factored-isa-check.mjs', import.meta.url))
    const run = (set: Record<string, string>) => {
      const env = {...process.env, ...set}
      if (!set.LIGO_ISA) delete env.LIGO_ISA
      const out = execFileSync(process.execPath, [script, PACKAGE_ROOT], {env, encoding: 'utf8', maxBuffer: 256 << 20})
      return JSON.parse(out.trim().split('\n').pop()!) as {isa: string; out: Record<string, number[]>}
    }
    const base = run({LIGO_THREADS: '2'})
    for (const isa of ['avx2', 'scalar']) {
      const res = run({LIGO_ISA: isa, LIGO_THREADS: '2'})
      expect(['scalar', isa]).toContain(res.isa) // a CPU without AVX2 reports 'scalar' for both
      expect(Object.keys(res.out)).toEqual(Object.keys(base.out))
      for (const [k, x] of Object.entries(base.out)) expectClose(Float32Array.from(res.out[k]), Float32Array.from(x), `${res.isa} ${k}`)
    }
    // Row blocks are fixed by the shape, so the sums (and results) do not depend on the thread count.
    expect(run({LIGO_THREADS: '1'}).out).toEqual(base.out)
  })

  it('the native kernels reject buffers too short for the shape they are given', () => {
    const addon = nativeAddon()!
    const f = (n: number) => new Float32Array(n)
    expect(() => addon.cameUpdateMatrix(f(15), f(15), f(15), f(3), f(4), f(3), f(5), 1, 3, 5, 0.01, 1, 0.9, 0.999, 0.9999, 1e-30, 1e-16, 1))
      .toThrow(/'vCol' has 4 elements, needs 5/)
    expect(() => addon.adafactorUpdateMatrix(f(15), f(14), null, f(3), f(5), 1, 3, 5, 0.01, 1, 0, 0.9, 1e-30, 1e-3, 1, false))
      .toThrow(/'g' has 14 elements, needs 15/)
    expect(() => addon.adafactorUpdateVector(f(8), f(8), f(7), f(8), 0.01, 1, 0.9, 0.9, 1e-30, 1e-3, 1, false)).toThrow(/'m' has 7/)
    expect(() => addon.cameUpdateVector(f(8), f(8), f(8), f(2), 0.01, 1, 0.9, 0.9, 1e-30, 1)).toThrow(/'v' has 2/)
  })
})
