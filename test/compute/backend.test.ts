// Backend selection and the native tfjs backend's overridden kernels (against the cpu backend), the AdamW
// kernels, and the CI guarantee that the addon was built.
import * as tf from '@tensorflow/tfjs-core'
import {afterAll, describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {loadNative} from '../../src/compute/native.js'
import {adamwStep, adamwStepReference, type AdamWOptions} from '../../src/compute/optim-kernels.js'
import {expectClose, ints, native, uniform} from './helpers.js'

afterAll(async () => {
  await initBackend('cpu')
})

describe('backend selection', () => {
  it('builds the addon in CI (npm ci runs scripts/build-native.mjs)', () => {
    if (!process.env.CI || process.env.LIGO_REQUIRE_NATIVE === '0') return
    expect(loadNative().reason).toBe('')
    expect(native).not.toBeNull()
  })

  it("'auto' picks native when the addon loads, with no notes", async () => {
    const info = await initBackend('auto')
    if (native) {
      expect(info).toEqual({name: 'native', notes: []})
    } else {
      expect(info.name).not.toBe('native')
      expect(info.notes[0]).toMatch(/native addon not available/)
    }
  })

  it("'cpu' and 'wasm' can be chosen explicitly", async () => {
    expect((await initBackend('cpu')).name).toBe('cpu')
    expect((await initBackend('wasm')).name).toBe('wasm')
  })

  it("'tensorflow' without tfjs-node installed is an InputError that names the packages", async () => {
    await expect(initBackend('tensorflow')).rejects.toMatchObject({code: 'E_INPUT', message: /tfjs-node/})
  })
})

/** Runs fn on cpu and on native with the same inputs and compares the outputs. */
async function sameOnCpu(inputs: {shape: number[]; data: Float32Array | Int32Array; dtype?: 'int32'}[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor, atol = 1e-5, rtol = 1e-4): Promise<void> {
  const run = async (b: 'cpu' | 'native') => {
    await initBackend(b)
    return tf.tidy(() => {
      const y = fn(...inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype ?? 'float32')))
      return {shape: y.shape, data: Float32Array.from(y.dataSync())}
    })
  }
  const want = await run('cpu')
  const got = await run('native')
  expect(got.shape).toEqual(want.shape)
  expectClose('out', got.data, want.data, atol, rtol)
}

const f = (shape: number[], seed: number) => ({shape, data: uniform(shape.reduce((a, b) => a * b, 1), seed)})

describe.skipIf(!native)('native backend kernels match cpu', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`matMul 45×65·65×33 transA=${ta} transB=${tb}`, () =>
      sameOnCpu([f(ta ? [65, 45] : [45, 65], 1), f(tb ? [33, 65] : [65, 33], 2)], (a, b) => tf.matMul(a, b, ta, tb)))
  }
  it('batched matMul [3,2,17,9]·[3,2,9,5] and broadcast [3,17,9]·[9,5]', async () => {
    await sameOnCpu([f([3, 2, 17, 9], 3), f([3, 2, 9, 5], 4)], (a, b) => tf.matMul(a, b))
    await sameOnCpu([f([3, 17, 9], 5), f([9, 5], 6)], (a, b) => tf.matMul(a, b))
    await sameOnCpu([f([17, 9], 5), f([4, 5, 9], 6)], (a, b) => tf.matMul(a, b, false, true))
  })
  it('fused matMul with bias (linear activation)', () =>
    sameOnCpu([f([45, 65], 7), f([65, 33], 8), f([33], 9)], (a, b, c) => tf.fused.matMul({a, b, bias: c})))
  it('add/sub/mul/div: same shape, bias row, scalar, suffix [T,C] over [B,T,C], and general broadcast', async () => {
    for (const op of [tf.add, tf.sub, tf.mul, tf.div]) {
      await sameOnCpu([f([45, 65], 10), f([45, 65], 11)], (a, b) => op(a, b))
      await sameOnCpu([f([45, 65], 12), f([65], 13)], (a, b) => op(a, b))
      await sameOnCpu([f([1], 14), f([45, 65], 15)], (a, b) => op(a, b))
      await sameOnCpu([f([3, 7, 5], 16), f([7, 5], 17)], (a, b) => op(b, a))
      await sameOnCpu([f([3, 1, 5], 18), f([7, 1], 19)], (a, b) => op(a, b))
    }
  })
  it('softmax over the last axis', () => sameOnCpu([f([2, 45, 65], 20)], (a) => tf.softmax(a)))
  it('transpose, including the head split [B,T,NH,HS] → [B,NH,T,HS]', async () => {
    await sameOnCpu([f([2, 5, 3, 7], 21)], (a) => tf.transpose(a, [0, 2, 1, 3]))
    await sameOnCpu([f([45, 65], 22)], (a) => tf.transpose(a))
    await sameOnCpu([f([2, 1, 3, 4, 5], 23)], (a) => tf.transpose(a, [4, 2, 0, 3, 1]))
  })
  it('split (the gradient of concat) along the first, a middle and the last axis', async () => {
    const cases: [number[], number[] | number, number][] = [[[45, 10, 3], [2, 5, 3], 1], [[45, 10, 3], 3, 0],
      [[45, 10, 3], [1, -1], 2], [[17, 4], [4, 0], 1]]
    for (const [shape, sizes, axis] of cases) {
      const pieces = typeof sizes === 'number' ? sizes : sizes.length
      for (let i = 0; i < pieces; i++) await sameOnCpu([f(shape, 26)], (a) => tf.split(a, sizes, axis)[i])
    }
  })
  it('unsortedSegmentSum (gather gradient)', () =>
    sameOnCpu([f([45, 7], 24), {shape: [45], data: ints(45, 25, 13), dtype: 'int32'}],
      (x, ids) => tf.unsortedSegmentSum(x, ids as tf.Tensor1D, 13)))
})

describe('AdamW kernel', () => {
  const o: AdamWOptions = {lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 3}
  it('matches a float64 transcription of torch.optim.AdamW', () => {
    const n = 10
    const p = uniform(n, 1), g = uniform(n, 2), m = uniform(n, 3, 0, 0.1), v = uniform(n, 4, 0, 0.1)
    const want = Array.from(p, (pi, i) => {
      const mi = 0.9 * m[i] + 0.1 * g[i]
      const vi = 0.95 * v[i] + 0.05 * g[i] * g[i]
      return pi * (1 - 1e-2 * 0.1) - (1e-2 * (mi / (1 - 0.9 ** 3))) / (Math.sqrt(vi / (1 - 0.95 ** 3)) + 1e-8)
    })
    adamwStepReference(p, g, m, v, o)
    expectClose('param', p, want, 1e-6, 1e-5)
  })
  it.skipIf(!native)('native path (n ≥ 4096) matches the reference loop', () => {
    const n = 5000
    const make = () => [uniform(n, 1), uniform(n, 2), uniform(n, 3, 0, 0.1), uniform(n, 4, 0, 0.1)] as const
    const [p1, g1, m1, v1] = make()
    const [p2, g2, m2, v2] = make()
    adamwStep(p1, g1, m1, v1, o)
    adamwStepReference(p2, g2, m2, v2, o)
    expectClose('param', p1, p2, 1e-6, 1e-5)
    expectClose('m', m1, m2, 1e-7, 1e-6)
    expectClose('v', v1, v2, 1e-7, 1e-6)
  })
})
