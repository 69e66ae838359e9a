// Parity of each native op (forward and gradient) with its tfjs reference, on awkward shapes and ranges, and
// tensor-count stability of the customGrad wrappers.
import * as tf from '@tensorflow/tfjs-core'
import {describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import * as ops from '../../src/compute/ops.js'
import {expectParity, native} from './helpers.js'

type T2 = tf.Tensor2D
type T1 = tf.Tensor1D
type T4 = tf.Tensor4D

describe.skipIf(!native)('native ops match the references', () => {
  it('linear 45×65 → 33 with bias', () =>
    expectParity([{shape: [45, 65]}, {shape: [65, 33]}, {shape: [33]}],
      (x, w, b) => ops.linearReference(x as T2, w as T2, b as T1), (x, w, b) => ops.linear(x as T2, w as T2, b as T1)))
  it('linear 64×99 → 130 without bias', () =>
    expectParity([{shape: [64, 99]}, {shape: [99, 130]}],
      (x, w) => ops.linearReference(x as T2, w as T2), (x, w) => ops.linear(x as T2, w as T2)))
  it('linear 1×1', () =>
    expectParity([{shape: [1, 1]}, {shape: [1, 1]}, {shape: [1]}],
      (x, w, b) => ops.linearReference(x as T2, w as T2, b as T1), (x, w, b) => ops.linear(x as T2, w as T2, b as T1)))

  it('layerNorm 45×65', () =>
    expectParity([{shape: [45, 65]}, {shape: [65]}, {shape: [65]}],
      (x, g, b) => ops.layerNormReference(x as T2, g as T1, b as T1), (x, g, b) => ops.layerNorm(x as T2, g as T1, b as T1),
      {gradAtol: 2e-4}))
  it('layerNorm 64×99, large offset', () =>
    expectParity([{shape: [64, 99], range: [90, 110]}, {shape: [99]}, {shape: [99]}],
      (x, g, b) => ops.layerNormReference(x as T2, g as T1, b as T1), (x, g, b) => ops.layerNorm(x as T2, g as T1, b as T1),
      {atol: 1e-4, rtol: 1e-3, gradAtol: 2e-3, gradRtol: 1e-2}))

  it('gelu 45×65', () => expectParity([{shape: [45, 65], range: [-4, 4]}], (x) => ops.geluReference(x), (x) => ops.gelu(x)))
  it('gelu on extreme range [-12, 12]', () =>
    expectParity([{shape: [64, 99], range: [-12, 12]}], (x) => ops.geluReference(x), (x) => ops.gelu(x), {atol: 1e-5, rtol: 1e-5}))
  it('gelu rank 3', () => expectParity([{shape: [2, 3, 17]}], (x) => ops.geluReference(x), (x) => ops.gelu(x)))

  const att = (shape: number[], opts = {}) =>
    expectParity([{shape}, {shape}, {shape}],
      (q, k, v) => ops.causalAttentionReference(q as T4, k as T4, v as T4, 1 / Math.sqrt(shape[3])),
      (q, k, v) => ops.causalAttention(q as T4, k as T4, v as T4, 1 / Math.sqrt(shape[3])), opts)
  it('causalAttention [2,3,65,7] (odd head size, T crosses the 48-row block)', () => att([2, 3, 65, 7]))
  it('causalAttention T=1', () => att([2, 2, 1, 5]))
  it('causalAttention [1,2,100,33]', () => att([1, 2, 100, 33], {gradAtol: 2e-4}))

  it('crossEntropy 45×65', () =>
    expectParity([{shape: [45, 65], range: [-5, 5]}, {shape: [45], dtype: 'int32', max: 65}],
      (l, t) => ops.crossEntropyReference(l as T2, t as T1), (l, t) => ops.crossEntropy(l as T2, t as T1)))
  it('crossEntropy 64×99, large logits', () =>
    expectParity([{shape: [64, 99], range: [-60, 60]}, {shape: [64], dtype: 'int32', max: 99}],
      (l, t) => ops.crossEntropyReference(l as T2, t as T1), (l, t) => ops.crossEntropy(l as T2, t as T1),
      {atol: 1e-4, rtol: 1e-5}))

  it('embedding 65×33 table, 45 ids with repeats', () =>
    expectParity([{shape: [65, 33]}, {shape: [45], dtype: 'int32', max: 65}],
      (t, i) => ops.embeddingReference(t as T2, i as T1), (t, i) => ops.embedding(t as T2, i as T1)))

  it('keeps the tensor count stable across repeated customGrad calls in tf.tidy', async () => {
    await initBackend('native')
    const x = tf.randomNormal([16, 24]) as T2, w = tf.randomNormal([24, 24]) as T2, b = tf.zeros([24]) as T1
    const g = tf.ones([24]) as T1
    const q = tf.randomNormal([1, 2, 8, 12]) as T4
    const ids = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0], 'int32')
    const step = () =>
      tf.tidy(() => {
        const f = (xx: tf.Tensor, ww: tf.Tensor) => {
          let h = ops.layerNorm(xx as T2, g, b)
          h = ops.gelu(ops.linear(h, ww as T2, b))
          const a = ops.causalAttention(q, q, q, 0.5)
          const e = ops.embedding(ww as T2, ids)
          return tf.add(ops.crossEntropy(tf.add(h, e) as T2, ids), tf.sum(a)) as tf.Scalar
        }
        const grads = tf.grads(f)([x, w])
        return grads.map((t) => tf.sum(t).dataSync()[0])
      })
    step()
    const before = tf.memory().numTensors
    for (let i = 0; i < 5; i++) step()
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, w, b, g, q, ids])
  })
})
