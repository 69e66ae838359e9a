// The grown tensors and their gradients with respect to the operator (what operator learning differentiates) on
// the native backend against the cpu backend: native Concat, per-row scales and the transpose-free last-axis
// expansion must agree to float32 rounding.
import * as tf from '@tensorflow/tfjs-core'
import {afterAll, describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {loadNative} from '../../src/compute/native.js'
import {Rng} from '../../src/data/rng.js'
import {growTensor, operatorConstants, sourceTensors} from '../../src/ligo/materialize.js'
import {initOperator} from '../../src/ligo/operator.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {type ModelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {SMALL, randomize} from './helpers.js'

afterAll(async () => {
  await initBackend('cpu')
})

/** Every grown tensor, and the gradients of Σ_P ⟨grow(P), R_P⟩ with respect to every operator array, on `backend`. */
async function run(backend: 'cpu' | 'native', large: ModelConfig, fullWidth: boolean) {
  await initBackend(backend)
  const schema = schemaOf(large)
  const op = initOperator(SMALL, large, schema, {width: 'rand', depth: 'stack', depthNoise: 0, fullWidth, seed: 1})
  randomize(op, 2)
  const src = sourceTensors(SMALL, initWeights(schemaOf(SMALL), 3))
  const consts = operatorConstants(op)
  const names = [...consts.keys()]
  try {
    return tf.tidy(() => {
      const r = new Rng(4)
      const R = schema.map((P) => tf.tensor(Float32Array.from({length: P.shape.reduce((a, b) => a * b, 1)}, () => r.next() - 0.5), P.shape))
      const values = schema.map((P) => Float32Array.from(growTensor(P, schema, op, src, consts).dataSync()))
      const f = (...ts: tf.Tensor[]) => {
        const t = new Map(names.map((n, i) => [n, ts[i]]))
        // 0·Σ t keeps arrays that no tensor reads (N of a space only ever on out-dimensions) on the tape: zero grads.
        const unused = ts.map((x) => tf.mul(0, tf.sum(x)))
        return tf.addN([...schema.map((P, i) => tf.sum(tf.mul(growTensor(P, schema, op, src, t), R[i]))), ...unused]) as tf.Scalar
      }
      const grads = tf.grads(f)(names.map((n) => consts.get(n)!)).map((g) => Float32Array.from(g.dataSync()))
      return {values, grads, names: schema.map((P) => P.name), gradNames: names}
    })
  } finally {
    src.dispose()
    for (const t of consts.values()) t.dispose()
  }
}

function close(what: string, a: Float32Array, b: Float32Array) {
  expect(a.length, what).toBe(b.length)
  let maxErr = 0
  for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])))
  expect(maxErr, what).toBeLessThan(1e-5)
}

describe.skipIf(!loadNative().addon)('materialisation on the native backend', () => {
  const cases: [string, ModelConfig, boolean][] = [
    ['width and depth', growConfig(SMALL, {width: 16, depth: 3}), false],
    ['odd width, fully learnable', growConfig(SMALL, {width: 12}), true],
    ['wider FFN only, depth', growConfig(SMALL, {ffn: 37, depth: 4}), false],
  ]
  for (const [name, large, fullWidth] of cases) {
    it(`matches cpu, values and operator gradients: ${name}`, async () => {
      const want = await run('cpu', large, fullWidth)
      const got = await run('native', large, fullWidth)
      want.values.forEach((v, i) => close(want.names[i], got.values[i], v))
      want.grads.forEach((g, i) => close(`d/d ${want.gradNames[i]}`, got.grads[i], g))
    })
  }
})
