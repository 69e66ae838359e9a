import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {initOperator, type LigoOperator} from '../../src/ligo/operator.js'
import {materialize} from '../../src/ligo/materialize.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {Rng} from '../../src/data/rng.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import type {ParamSpec} from '../../src/model/schema.js'
import {useCpu} from '../helpers.js'

beforeAll(useCpu)

const SMALL = modelConfig({vocab_size: 11, n_positions: 6, n_layer: 2, d_model: 8, n_head: 2, d_ffn: 16})

function randomize(op: LigoOperator, seed: number): void {
  const r = new Rng(seed)
  const fill = (a: Float32Array) => a.forEach((_, i) => (a[i] = r.next() * 2 - 1))
  for (const s of op.width.values()) {
    fill(s.M)
    fill(s.N)
    if (s.T) fill(s.T)
  }
  for (const c of op.depth.values()) fill(c)
}

/** Independent reference: explicit B matrices and sums, float64 loops over our (in, out) storage. */
function expected(op: LigoOperator, small: Map<string, Float32Array>, P: ParamSpec, largeSchema: ParamSpec[]): Float64Array {
  const B = (key: string): {B: number[][]; N: number[]} | undefined => {
    const s = op.width.get(key)
    if (!s || s.d1 === s.d2) return undefined // a space that does not grow is left alone
    const rows: number[][] = []
    for (let i = 0; i < s.d1; i++) rows.push(Array.from({length: s.d1}, (_, j) => (s.T ? s.T[i * s.d1 + j] : i === j ? 1 : 0)))
    for (let i = 0; i < s.d2 - s.d1; i++) rows.push(Array.from(s.M.subarray(i * s.d1, (i + 1) * s.d1)))
    return {B: rows, N: Array.from(s.N)}
  }
  const key = (sp: string) => (['q', 'k', 'v', 'ffn'].includes(sp) ? `h.${P.layer}.${sp}` : sp)
  const dims = P.spaces.map((sp, k) => B(key(sp)) ?? {B: identity(P.shape[k]), N: new Array(P.shape[k]).fill(1)})
  const smallShape = dims.map((d) => d.B[0].length)
  // W̄
  const n = smallShape.reduce((a, b) => a * b, 1)
  const wbar = new Float64Array(n)
  if (P.layer === null) wbar.set(small.get(P.name)!)
  else {
    const c = op.depth.get(`h.${P.layer}.${P.module}`)!
    for (let j = 0; j < c.length; j++) {
      const w = small.get(`h.${j}.${P.module}`)!
      for (let e = 0; e < n; e++) wbar[e] += c[j] * w[e]
    }
  }
  const tiedFinal = op.large.tie_embeddings && P.layer === null && (P.role === 'gain' || P.role === 'bias') && P.module.startsWith('ln_f')
  if (P.shape.length === 1) {
    const {B: b, N} = dims[0]
    return Float64Array.from(b, (row, i) => row.reduce((a, v, j) => a + v * wbar[j], 0) * (tiedFinal ? N[i] : 1))
  }
  const [a, bb] = dims
  const inDim = P.role === 'hidden' || P.role === 'readout'
  const [r1, c1] = smallShape
  const out = new Float64Array(P.shape[0] * P.shape[1])
  for (let i = 0; i < P.shape[0]; i++)
    for (let j = 0; j < P.shape[1]; j++) {
      let s = 0
      for (let p = 0; p < r1; p++) for (let q = 0; q < c1; q++) s += a.B[i][p] * wbar[p * c1 + q] * bb.B[j][q]
      out[i * P.shape[1] + j] = s * (inDim ? a.N[i] : 1)
    }
  return out
}

function identity(n: number): number[][] {
  return Array.from({length: n}, (_, i) => Array.from({length: n}, (_, j) => (i === j ? 1 : 0)))
}

function checkAll(large: ModelConfig, fullWidth: boolean, smallCfg: ModelConfig = SMALL) {
  const largeSchema = schemaOf(large)
  const op = initOperator(smallCfg, large, largeSchema, {width: 'rand', depth: 'stack', depthNoise: 0, fullWidth, seed: 1})
  randomize(op, 2)
  const small = initWeights(schemaOf(smallCfg), 3)
  const grown = materialize(op, small)
  const types = new Set<string>()
  for (const P of largeSchema) {
    const want = expected(op, small, P, largeSchema)
    const got = grown.get(P.name)!
    expect(got.length, P.name).toBe(want.length)
    let maxErr = 0
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])))
    expect(maxErr, P.name).toBeLessThan(1e-5)
    types.add(P.module)
  }
  return types
}

describe('materialisation', () => {
  it('matches explicit (N·B_in)·Σc·W·B_outᵀ for every tensor type: width and depth (not a multiple)', () => {
    const types = checkAll(growConfig(SMALL, {width: 16, depth: 3}), false)
    expect(types.size).toBe(20) // wte, wpe, 16 per-block tensors, ln_f weight and bias
  })
  it('width only, depth only, fully learnable width, untied head', () => {
    checkAll(growConfig(SMALL, {width: 12}), false)
    checkAll(growConfig(SMALL, {depth: 5}), false)
    checkAll(growConfig(SMALL, {width: 16, depth: 4}), true)
    const untied = {...SMALL, tie_embeddings: false}
    checkAll(growConfig(untied, {width: 16, depth: 4}), false, untied)
  })
})

describe('function-preserving growth', () => {
  for (const [name, target] of [
    ['width ×2', {width: 16}],
    ['depth ×2', {depth: 4}],
    ['width ×2 and depth 3', {width: 16, depth: 3}],
    ['width ×3, FFN ×2.5, untied', {width: 24, ffn: 40}],
  ] as const) {
    it(`gives the source's logits exactly: ${name}`, () => {
      const small = name.includes('untied') ? {...SMALL, tie_embeddings: false} : SMALL
      const large = growConfig(small, target)
      const op = initOperator(small, large, schemaOf(large), {width: 'fp', depth: 'fp', depthNoise: 0, fullWidth: false, seed: 5})
      const ws = initWeights(schemaOf(small), 9)
      // A trained-looking source: non-trivial gains and biases.
      for (const [k, v] of ws) if (k.includes('ln') || k.endsWith('bias')) v.forEach((_, i) => (v[i] += 0.3 * Math.sin(i + k.length)))
      const wl = materialize(op, ws)
      const ids = Int32Array.from({length: 2 * 6}, (_, i) => (i * 7 + 3) % 11)
      const logits = (c: ModelConfig, w: Map<string, Float32Array>) =>
        tf.tidy(() => forward(c, new Map(schemaOf(c).map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)])), ids, 2, 6).arraySync())
      const a = logits(small, ws)
      const b = logits(large, wl)
      let maxErr = 0
      for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) maxErr = Math.max(maxErr, Math.abs(a[i][j] - b[i][j]))
      expect(maxErr).toBeLessThan(2e-5)
      // and it is not trivially the same size
      expect(schemaOf(large).length + wl.get('wte.weight')!.length).toBeGreaterThan(schemaOf(small).length + ws.get('wte.weight')!.length)
    })
  }
})
