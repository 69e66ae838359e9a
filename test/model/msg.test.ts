import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {Rng} from '../../src/data/rng.js'
import {weightedLayerNorm, weightedLayerNormReference, weightedRmsNorm, weightedRmsNormReference} from '../../src/model/msg.js'
import {useCpu} from '../helpers.js'

beforeAll(async () => {
  await useCpu()
})

/** Seeded values in [lo, hi). */
function uniform(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  const r = new Rng(seed)
  return Float32Array.from({length: n}, () => lo + (hi - lo) * r.next())
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])
}

describe('MSG weighted norms: the hand-written backward agrees with autodiff of the same forward', () => {
  for (const [N, C, m] of [[45, 65, 0.3], [64, 99, 0], [1, 8, 1]] as const) {
    it(`LayerNorm and RMSNorm, ${N}×${C}, mask ${m} on the last third`, () => {
      tf.tidy(() => {
        const x = tf.tensor2d(uniform(N * C, 1), [N, C])
        const g = tf.tensor1d(uniform(C, 2, 0.5, 1.5))
        const b = tf.tensor1d(uniform(C, 3))
        const w = tf.tensor2d(uniform(N * C, 4), [N, C]) // a random cotangent: loss = Σ w ⊙ y
        const old = C - Math.floor(C / 3)
        const rArr = new Float32Array(C).fill(m)
        rArr.fill(1, 0, old)
        const r = tf.tensor1d(rArr)
        const rSum = old + m * (C - old)
        const ln = (f: typeof weightedLayerNorm) => tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, f(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, r, rSum))))([x, g, b])
        const rms = (f: typeof weightedRmsNorm) => tf.grads((x: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(w, f(x as tf.Tensor2D, g as tf.Tensor1D, 1e-6, r, rSum))))([x, g])
        expect(maxAbsDiff(weightedLayerNorm(x, g, b, 1e-5, r, rSum), weightedLayerNormReference(x, g, b, 1e-5, r, rSum))).toBeLessThan(1e-6)
        expect(maxAbsDiff(weightedRmsNorm(x, g, 1e-6, r, rSum), weightedRmsNormReference(x, g, 1e-6, r, rSum))).toBeLessThan(1e-6)
        const [a, c] = [ln(weightedLayerNorm), ln(weightedLayerNormReference)]
        for (let i = 0; i < 3; i++) expect(maxAbsDiff(a[i], c[i]), `LayerNorm grad ${['x', 'g', 'b'][i]}`).toBeLessThan(2e-4 * Math.max(1, tf.max(tf.abs(c[i])).dataSync()[0]))
        const [p, q] = [rms(weightedRmsNorm), rms(weightedRmsNormReference)]
        for (let i = 0; i < 2; i++) expect(maxAbsDiff(p[i], q[i]), `RMSNorm grad ${['x', 'g'][i]}`).toBeLessThan(2e-4 * Math.max(1, tf.max(tf.abs(q[i])).dataSync()[0]))
        // With every weight 1 it is the plain LayerNorm.
        if (m === 1) expect(maxAbsDiff(weightedLayerNorm(x, g, b, 1e-5, r, rSum), tf.add(tf.mul(tf.div(tf.sub(x, tf.mean(x, 1, true)), tf.sqrt(tf.add(tf.moments(x, 1, true).variance, 1e-5))), g), b))).toBeLessThan(1e-5)
      })
    })
  }
})
