import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {ConfigError} from '../../src/errors.js'
import {forward, lossOf, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {countParams, decays} from '../../src/model/schema.js'
import {TINY_MODEL, useCpu} from '../helpers.js'
import {checkGradients, perturbed} from './gradcheck.js'

beforeAll(useCpu)

const cfg = modelConfig(TINY_MODEL)
const schema = schemaOf(cfg)

function tensors(w: Map<string, Float32Array>) {
  return new Map(schema.map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)]))
}

function ids(n: number, salt = 0): Int32Array {
  return Int32Array.from({length: n}, (_, i) => (i * 37 + 11 + salt * 101) % 256)
}

describe('gpt2 schema', () => {
  it('describes every tensor with a space per dimension and counts parameters like GPT-2', () => {
    for (const p of schema) expect(p.spaces.length).toBe(p.shape.length)
    const C = 16, F = 32, L = 2, V = 256, P = 16
    const perLayer = 4 * C + 3 * (C * C + C) + (C * C + C) + (C * F + F) + (F * C + C)
    expect(countParams(schema)).toBe(V * C + P * C + L * perLayer + 2 * C)
    expect(schema.find((p) => p.name === 'h.1.attn.q_proj.weight')).toMatchObject({layer: 1, module: 'attn.q_proj.weight', spaces: ['resid', 'q'], role: 'hidden'})
    expect(schema.find((p) => p.name === 'h.0.attn.c_proj.weight')?.spaces).toEqual(['v', 'resid'])
    expect(schema.filter(decays).every((p) => p.shape.length === 2)).toBe(true)
    expect(schemaOf(modelConfig({...TINY_MODEL, tie_embeddings: false})).at(-1)).toMatchObject({name: 'lm_head.weight', role: 'readout', spaces: ['resid', 'vocab']})
  })

  it('rejects bad configs naming the key', () => {
    expect(() => modelConfig({...TINY_MODEL, n_layers: 3})).toThrow(/model\.n_layers.*no such key/)
    expect(() => modelConfig({...TINY_MODEL, d_model: 0})).toThrow(ConfigError)
    expect(() => modelConfig({...TINY_MODEL, d_model: 'wide'})).toThrow(/model\.d_model.*"wide".*integer/)
    expect(() => modelConfig({...TINY_MODEL, n_head: 3})).toThrow(/model\.n_head.*divisor of d_model/)
    expect(() => modelConfig({...TINY_MODEL, family: 'gpt5'})).toThrow(/model\.family.*one of gpt2/)
  })
})

describe('gpt2 forward', () => {
  const w = initWeights(schema, 1)

  it('gives logits [B·T, V] and the same rows for a sequence alone or in a batch', () => {
    const p = tensors(w)
    const B = 3, T = 16
    const x = ids(B * T)
    const all = forward(cfg, p, x, B, T)
    expect(all.shape).toEqual([B * T, 256])
    const rows = all.arraySync()
    for (let b = 0; b < B; b++) {
      const one = forward(cfg, p, x.slice(b * T, (b + 1) * T), 1, T).arraySync()
      for (let t = 0; t < T; t++) for (let v = 0; v < 256; v += 17) expect(one[t][v]).toBeCloseTo(rows[b * T + t][v], 5)
    }
  })

  it('is causal: changing a future token never changes an earlier logit', () => {
    const p = tensors(w)
    const T = 16
    for (const pos of [1, 7, 15]) {
      const a = ids(T)
      const b = Int32Array.from(a)
      b[pos] = (b[pos] + 99) % 256
      const la = forward(cfg, p, a, 1, T).arraySync()
      const lb = forward(cfg, p, b, 1, T).arraySync()
      for (let t = 0; t < pos; t++) expect(la[t]).toEqual(lb[t])
      expect(la[pos]).not.toEqual(lb[pos])
    }
  })

  it('starts near the uniform loss ln V', () => {
    const l = lossOf(cfg, tensors(w), ids(32), ids(32, 1), 2, 16).dataSync()[0]
    expect(Math.abs(l - Math.log(256))).toBeLessThan(0.1)
  })

  it('has gradients that match finite differences (directional derivative per tensor)', () => {
    const B = 2, T = 8
    const x = ids(B * T), y = ids(B * T, 3)
    const checked = checkGradients(schema, perturbed(w), (p) => lossOf(cfg, p, x, y, B, T))
    expect(checked).toBeGreaterThan(schema.length / 2)
  })
})
