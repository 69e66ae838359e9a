/**
 * The directional finite-difference check every model family's gradient test uses: for each tensor, a direction of
 * ±1 on up to 24 spread-out coordinates, the central difference of the loss along it against the analytic
 * directional derivative (tf.grads). ±1 on a few coordinates is small enough for third-order terms to vanish at
 * eps 1e-3 and large enough to beat float32 noise; the residual stream at init is small, so LayerNorm makes the
 * loss sharply curved along bias directions, hence the small step.
 */
import * as tf from '@tensorflow/tfjs-core'
import {expect} from 'vitest'

import type {Schema} from '../../src/model/schema.js'

/** The init moved to a trained-looking point: gains and biases off 1/0, where their gradients would be degenerate. */
export function perturbed(w: Map<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...w].map(([k, v]) => [k, Float32Array.from(v, (a, i) => a + 0.05 * Math.sin(i * 1.7 + k.length))]))
}

/**
 * Asserts |numeric − analytic| < 3e-4 + 1.5%·|analytic| for every tensor of `schema` at weights `w0`. `span(name)`
 * limits a tensor's direction to its first coordinates (rows no input reads have zero gradient). Returns how many
 * tensors had a directional derivative above 1e-3 (a check that is not vacuous).
 */
export function checkGradients(
  schema: Schema,
  w0: Map<string, Float32Array>,
  lossOf: (params: Map<string, tf.Tensor>) => tf.Scalar,
  span: (name: string, size: number) => number = (_, size) => size,
): number {
  const names = schema.map((s) => s.name)
  const tensors = (ws: Map<string, Float32Array>) => new Map(schema.map((s) => [s.name, tf.tensor(ws.get(s.name)!, s.shape)]))
  const loss = (ws: Map<string, Float32Array>) => tf.tidy(() => lossOf(tensors(ws)).dataSync()[0])
  const grads = tf.tidy(() => {
    const f = (...ts: tf.Tensor[]) => lossOf(new Map(names.map((n, i) => [n, ts[i]])))
    return tf.grads(f)(names.map((n, i) => tf.tensor(w0.get(n)!, schema[i].shape))).map((g) => g.dataSync() as Float32Array)
  })
  const eps = 1e-3
  let checked = 0
  for (let i = 0; i < names.length; i++) {
    const n = names[i]
    const full = w0.get(n)!.length
    const size = span(n, full)
    const dir = new Float32Array(full)
    for (let k = 0; k < Math.min(24, size); k++) dir[Math.floor(((k + 0.5) * size) / Math.min(24, size))] = k % 3 === 0 ? -1 : 1
    const shift = (s: number) => new Map([...w0].map(([k, v]) => [k, k === n ? Float32Array.from(v, (a, j) => a + s * dir[j]) : v]))
    const numeric = (loss(shift(eps)) - loss(shift(-eps))) / (2 * eps)
    let analytic = 0
    for (let j = 0; j < dir.length; j++) analytic += grads[i][j] * dir[j]
    expect(Math.abs(numeric - analytic), `${n}: numeric ${numeric} vs analytic ${analytic}`).toBeLessThan(3e-4 + 0.015 * Math.abs(analytic))
    if (Math.abs(analytic) > 1e-3) checked++
  }
  return checked
}
