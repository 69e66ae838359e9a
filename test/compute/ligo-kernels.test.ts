// The native backend's kernels that LiGO operator learning leans on: Concat (block copies) and the per-row broadcast for Add/Sub/Multiply/RealDiv ([R, C] op [R, 1], the LiGO in-dimension
// scale N and its gradient): values and gradients against the cpu backend, operands either way round, odd shapes.
import * as tf from '@tensorflow/tfjs-core'
import {afterAll, describe, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {expectParity, native, type InputSpec} from './helpers.js'

afterAll(async () => {
  await initBackend('cpu')
})

const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div]]
// [full, per-row] shape pairs: 2-D column, 3-D with one and two trailing 1s, a leading 1 on either side.
const cases: [number[], number[]][] = [[[45, 65], [45, 1]], [[3, 7, 5], [3, 7, 1]], [[3, 7, 5], [3, 1, 1]],
  [[7, 5], [1, 7, 1]], [[1, 13, 9], [13, 1]], [[1, 1], [1, 1]], [[17, 1], [17, 1]]]

describe.skipIf(!native)('native per-row broadcast matches cpu (value and gradient)', () => {
  for (const [name, op] of ops) {
    for (const [full, row] of cases) {
      const spec = (shape: number[]): InputSpec => ({shape, range: name === 'div' ? [0.5, 1.5] : [-1, 1]})
      it(`${name} ${JSON.stringify(full)} op ${JSON.stringify(row)} and reversed`, async () => {
        const fn = (a: tf.Tensor, b: tf.Tensor) => op(a, b)
        await expectParity([spec(full), spec(row)], fn, fn)
        await expectParity([spec(row), spec(full)], fn, fn, {seed: 7})
      })
    }
  }
  it('the LiGO scale pattern at size: [512, 64] ⊙ [512, 1]', async () => {
    const fn = (a: tf.Tensor, b: tf.Tensor) => tf.mul(a, b)
    await expectParity([{shape: [512, 64]}, {shape: [512, 1]}], fn, fn)
  })
})

describe.skipIf(!native)('native concat matches cpu (value and gradient)', () => {
  const cases: [number[][], number][] = [
    [[[45, 7], [45, 13]], 1], [[[7, 45], [13, 45]], 0], [[[7, 45], [13, 45]], -2], [[[3, 5, 2], [3, 1, 2], [3, 4, 2]], 1],
    [[[3, 5, 2], [3, 5, 3]], 2], [[[2, 3, 5], [4, 3, 5]], 0], [[[1, 1], [1, 1]], 1], [[[9], [4], [1]], 0],
    [[[5, 3]], 1], [[[17, 1], [17, 1]], 0], [[[128, 64], [128, 64]], 1],
  ]
  for (const [shapes, axis] of cases) {
    it(`${JSON.stringify(shapes)} along ${axis}`, async () => {
      const fn = (...xs: tf.Tensor[]) => tf.concat(xs, axis)
      await expectParity(shapes.map((shape) => ({shape})), fn, fn)
    })
  }
  it('a zero-size piece', async () => {
    const fn = (a: tf.Tensor, b: tf.Tensor) => tf.concat([a, tf.slice(b, [0, 0], [3, 0])], 1)
    await expectParity([{shape: [3, 4]}, {shape: [3, 2]}], fn, fn)
  })
})
