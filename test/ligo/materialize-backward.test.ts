// The tape-free materialisation (native/ligo_grow.cc through materializeEach / materializeBackward) against the
// reference, today's differentiable path through growTensor: the grown tensors (bit for bit on the native backend,
// where both run the same SGEMMs; to rounding on cpu), and the operator gradients of a loss Σ_P ⟨W_P, R_P⟩ against
// tfjs autodiff and central finite differences, for every space kind, full-width T, tied and untied readouts, µP
// compensation, GPT-2, Llama with grouped KV heads, and BERT. The tfjs engine (the fallback without the addon) is
// held to the same reference.
import * as tf from '@tensorflow/tfjs-core'
import {afterAll, describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {loadNative} from '../../src/compute/native.js'
import {Rng} from '../../src/data/rng.js'
import {type GrowEngine, type Weights, growTensor, materialize, materializeBackward, materializeEach, materializeInto, operatorConstants, sourceTensors} from '../../src/ligo/materialize.js'
import {type LigoOperator, initOperator, learnables} from '../../src/ligo/operator.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {type ModelConfig, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {numel} from '../../src/model/schema.js'
import {SMALL, randomize} from './helpers.js'

const native = loadNative().addon !== null

afterAll(async () => {
  await initBackend('cpu')
})

const LLAMA = modelConfig({family: 'llama', vocab_size: 13, n_positions: 6, n_layer: 2, d_model: 8, n_head: 4, n_kv_head: 2, d_ffn: 12})
const BERT = modelConfig({family: 'bert', vocab_size: 13, n_positions: 6, n_layer: 2, d_model: 8, n_head: 2, d_ffn: 16, tie_embeddings: false})
const MUP = modelConfig({vocab_size: 11, n_positions: 6, n_layer: 2, d_model: 8, n_head: 2, d_ffn: 16, param: 'mup'})
const UNTIED = {...SMALL, tie_embeddings: false} as ModelConfig
const MUP_UNTIED = {...MUP, tie_embeddings: false} as ModelConfig

interface Case {
  name: string
  small: ModelConfig
  large: ModelConfig
  fullWidth: boolean
}
const CASES: Case[] = [
  {name: 'GPT-2 width (not a multiple) and depth', small: SMALL, large: growConfig(SMALL, {width: 12, depth: 3}), fullWidth: false},
  {name: 'GPT-2 full-width T, FFN and depth', small: SMALL, large: growConfig(SMALL, {width: 16, ffn: 37, depth: 4}), fullWidth: true},
  {name: 'GPT-2 untied readout', small: UNTIED, large: growConfig(UNTIED, {width: 16, depth: 3}), fullWidth: true},
  {name: 'GPT-2 µP (compensated readout)', small: MUP, large: growConfig(MUP, {width: 16, depth: 3}), fullWidth: false},
  {name: 'GPT-2 µP untied (compensated readout matrix)', small: MUP_UNTIED, large: growConfig(MUP_UNTIED, {width: 16}), fullWidth: true},
  {name: 'GPT-2 depth only', small: SMALL, large: growConfig(SMALL, {depth: 5}), fullWidth: false},
  {name: 'Llama grouped KV heads', small: LLAMA, large: growConfig(LLAMA, {width: 16, depth: 3}), fullWidth: true},
  {name: 'BERT untied', small: BERT, large: growConfig(BERT, {width: 12, depth: 3}), fullWidth: false},
]

function setup(k: Case, seed = 1): {op: LigoOperator; weights: Weights; R: Map<string, Float32Array>} {
  const schema = schemaOf(k.large)
  const op = initOperator(k.small, k.large, schema, {width: 'rand', depth: 'stack', depthNoise: 0, fullWidth: k.fullWidth, seed})
  randomize(op, seed + 1)
  const weights = initWeights(schemaOf(k.small), seed + 2)
  // Trained-looking gains and biases (non-zero), so every operator array has a gradient.
  for (const P of schemaOf(k.small)) if (P.role === 'gain' || P.role === 'bias') weights.get(P.name)!.forEach((_, i, v) => (v[i] += 0.3 * Math.sin(i + P.name.length)))
  const r = new Rng(seed + 3)
  const R = new Map(schema.map((P) => [P.name, Float32Array.from({length: numel(P.shape)}, () => r.next() - 0.5)]))
  return {op, weights, R}
}

/** Every grown tensor and the autodiff gradients of Σ_P ⟨grow(P), R_P⟩ w.r.t. every operator array, through growTensor. */
function reference(op: LigoOperator, weights: Weights, R: Map<string, Float32Array>) {
  const schema = schemaOf(op.large)
  const src = sourceTensors(op.small, weights)
  const consts = operatorConstants(op)
  const names = [...consts.keys()].filter((n) => !n.endsWith('.N') && consts.get(n)!.size > 0) // N is fixed; M of a space that does not grow is empty
  const values = new Map<string, Float32Array>()
  const grads = new Map<string, Float32Array>()
  try {
    tf.tidy(() => {
      for (const P of schema) values.set(P.name, Float32Array.from(growTensor(P, schema, op, src, consts).dataSync()))
      const f = (...ts: tf.Tensor[]) => {
        const t = new Map([...consts, ...names.map((n, i) => [n, ts[i]] as const)])
        // 0·Σ t keeps arrays that no tensor reads on the tape (zero gradient) instead of failing.
        return tf.addN([...schema.map((P) => tf.sum(tf.mul(growTensor(P, schema, op, src, t), tf.tensor(R.get(P.name)!, P.shape)))),
          ...ts.map((x) => tf.mul(0, tf.sum(x)))]) as tf.Scalar
      }
      const gs = tf.grads(f)(names.map((n) => consts.get(n)!))
      names.forEach((n, i) => grads.set(n, Float32Array.from(gs[i].dataSync())))
    })
    return {values, grads}
  } finally {
    src.dispose()
    for (const t of consts.values()) t.dispose()
  }
}

/** Operator gradients by materializeBackward for every learnable array (M, T, depth). */
function closedForm(op: LigoOperator, weights: Weights, R: Map<string, Float32Array>, engine: GrowEngine): Map<string, Float32Array> {
  const into = new Map([...learnables(op, {width: true, depth: true})].map(([n, a]) => [n, new Float32Array(a.length)]))
  materializeBackward(op, weights, R, into, {engine})
  return into
}

function expectClose(what: string, got: Float32Array, want: Float32Array, tol = 1e-5) {
  expect(got.length, what).toBe(want.length)
  let scale = 0
  for (const x of want) scale = Math.max(scale, Math.abs(x))
  let err = 0
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]))
  expect(err / (1 + scale), what).toBeLessThan(tol)
}

const ENGINES: GrowEngine[] = native ? ['native', 'tfjs'] : ['tfjs']

describe('tape-free materialisation: values', () => {
  for (const k of CASES) {
    it.skipIf(!native)(`native engine equals growTensor on the native backend bit for bit, and cpu to rounding: ${k.name}`, async () => {
      const {op, weights, R} = setup(k)
      await initBackend('native')
      const want = reference(op, weights, R).values
      const got = materialize(op, weights, {engine: 'native'})
      expect([...got.keys()]).toEqual(schemaOf(k.large).map((P) => P.name))
      for (const [name, w] of want) expect(Buffer.from(got.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true)
      await initBackend('cpu')
      for (const [name, w] of reference(op, weights, R).values) expectClose(name, got.get(name)!, w)
    })
  }

  it('materializeEach streams fresh arrays in schema order; materializeInto refills given arrays with the same values', async () => {
    await initBackend('cpu')
    const k = CASES[1]
    const {op, weights} = setup(k)
    for (const engine of ENGINES) {
      const seen: string[] = []
      const arrays = new Set<Float32Array>()
      const each = new Map<string, Float32Array>()
      materializeEach(op, weights, (P, data) => {
        seen.push(P.name)
        expect(data.length).toBe(numel(P.shape))
        arrays.add(data)
        each.set(P.name, data)
      }, {engine})
      expect(seen).toEqual(schemaOf(k.large).map((P) => P.name))
      expect(arrays.size).toBe(seen.length)
      const into = new Map([...each].map(([n, a]) => [n, new Float32Array(a.length).fill(Number.NaN)]))
      const before = new Map(into)
      materializeInto(op, weights, into, {engine})
      for (const [n, a] of into) {
        expect(a, n).toBe(before.get(n)) // the same arrays, refilled
        expect(Buffer.from(a.buffer).equals(Buffer.from(each.get(n)!.buffer)), n).toBe(true)
      }
    }
  })

  it.skipIf(!native)('fixed maps (stack, interleave, net2net selections and splits) come out bit for bit as on the tfjs engine', async () => {
    await initBackend('cpu') // the cpu kernels sum in their own order: exact only because a selection has one term
    const large = growConfig(SMALL, {width: 16, depth: 5})
    for (const depth of ['stack', 'interleave', 'fp'] as const) {
      const op = initOperator(SMALL, large, schemaOf(large), {width: 'fp', depth, depthNoise: 0, fullWidth: false, seed: 4})
      const weights = setup(CASES[0]).weights
      const a = materialize(op, weights, {engine: 'native'})
      const b = materialize(op, weights, {engine: 'tfjs'})
      for (const [n, w] of b) expect(Buffer.from(a.get(n)!.buffer).equals(Buffer.from(w.buffer)), `${depth} ${n}`).toBe(true)
    }
  })
})

describe('tape-free materialisation: operator gradients', () => {
  for (const k of CASES) {
    it(`closed forms equal tfjs autodiff through growTensor: ${k.name}`, async () => {
      await initBackend('cpu')
      const {op, weights, R} = setup(k)
      const want = reference(op, weights, R).grads
      const kinds = new Set<string>()
      for (const engine of ENGINES) {
        const got = closedForm(op, weights, R, engine)
        expect([...got.keys()].sort(), engine).toEqual([...want.keys()].sort())
        for (const [n, g] of want) {
          expectClose(`${engine} d/d ${n}`, got.get(n)!, g, 2e-5)
          kinds.add(n.replace(/h\.\d+\./, '').replace(/\.(q|k|v|ffn)\./, '.head-or-ffn.'))
        }
      }
      // Every kind of array is covered: resid and per-block spaces, T when full width, depth vectors.
      expect([...kinds].some((n) => n.startsWith('width.resid'))).toBe(k.large.d_model > k.small.d_model)
      expect([...kinds].some((n) => n.startsWith('depth.'))).toBe(true)
      if (k.fullWidth) expect([...kinds].some((n) => n.endsWith('.T'))).toBe(true)
    })
  }

  it.skipIf(!native)('match central finite differences of the native forward (the loss is linear in each operator entry)', async () => {
    for (const k of [CASES[1], CASES[3], CASES[4]]) {
      const {op, weights, R} = setup(k, 7)
      const loss = () => {
        let s = 0
        materializeEach(op, weights, (P, data) => {
          const r = R.get(P.name)!
          for (let i = 0; i < data.length; i++) s += data[i] * r[i]
        }, {engine: 'native'})
        return s
      }
      const grads = closedForm(op, weights, R, 'native')
      const rng = new Rng(11)
      let checked = 0
      for (const [name, a] of learnables(op, {width: true, depth: true})) {
        if (!(name.startsWith('width.resid') || name.includes('.ffn.') || name.includes('.v.') || name.endsWith('.T') || name.startsWith('depth.h.1.'))) continue
        for (let t = 0; t < 2; t++) {
          const i = rng.int(a.length)
          const x = a[i]
          const h = 0.25
          a[i] = x + h
          const up = loss()
          a[i] = x - h
          const down = loss()
          a[i] = x
          const fd = (up - down) / (2 * h)
          const g = grads.get(name)![i]
          expect(Math.abs(fd - g), `${k.name} ${name}[${i}]: fd ${fd} vs ${g}`).toBeLessThan(2e-3 * (1 + Math.abs(g)))
          checked++
        }
      }
      expect(checked).toBeGreaterThan(10)
    }
  })

  it('adds into the given arrays and leaves arrays that are not asked for alone; a tensor without a gradient adds nothing', async () => {
    await initBackend('cpu')
    const k = CASES[1]
    const {op, weights, R} = setup(k)
    for (const engine of ENGINES) {
      const once = closedForm(op, weights, R, engine)
      // Depth only, pre-filled with 1: the result is 1 + the gradient; no width array is touched.
      const depthOnly = new Map([...learnables(op, {width: false, depth: true})].map(([n, a]) => [n, new Float32Array(a.length).fill(1)]))
      materializeBackward(op, weights, R, depthOnly, {engine})
      for (const [n, a] of depthOnly) expectClose(`${engine} ${n}`, a, once.get(n)!.map((g) => 1 + g))
      // Without wte's gradient, d/dM_resid loses exactly wte's share.
      const noWte = new Map(R)
      noWte.delete('wte.weight')
      const onlyWte = new Map([['wte.weight', R.get('wte.weight')!]])
      const a = closedForm(op, weights, noWte, engine).get('width.resid.M')!
      const b = closedForm(op, weights, onlyWte, engine).get('width.resid.M')!
      expectClose(`${engine} resid M split`, a.map((x, i) => x + b[i]), once.get('width.resid.M')!)
      expect(b.some((x) => x !== 0)).toBe(true)
    }
  })
})
