// The row-layout attention kernels (causalAttentionRows, causalAttentionQkv): parity with the tfjs reference
// (heads → causalAttentionReference → merge) on awkward shapes, finite differences of the addon's backward on
// a strided fused qkv, and the argument checks.
import * as tf from '@tensorflow/tfjs-core'
import {describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import * as ops from '../../src/compute/ops.js'
import {expectClose, expectParity, native, numericGrad, uniform} from './helpers.js'

type T2 = tf.Tensor2D

const f64 = (a: Float32Array) => Float64Array.from(a)
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

/**
 * Float64 causal attention on a fused qkv [B·T rows ld apart]: q in columns [0, C), k in [C, 2C), v in [2C, 3C)
 * (C = NH·HS, head-major) → out [B·T, C].
 */
function attentionQkv64(x: Float64Array, ld: number, B: number, T: number, NH: number, HS: number,
  scale: number): Float64Array {
  const C = NH * HS
  const out = new Float64Array(B * T * C)
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const at = (t: number, part: number, c: number) => x[(b * T + t) * ld + part * C + h * HS + c]
      for (let i = 0; i < T; i++) {
        const s: number[] = []
        for (let j = 0; j <= i; j++) {
          let d = 0
          for (let c = 0; c < HS; c++) d += at(i, 0, c) * at(j, 1, c)
          s.push(d * scale)
        }
        const mx = Math.max(...s)
        const e = s.map((z) => Math.exp(z - mx))
        const sum = e.reduce((p, z) => p + z, 0)
        for (let j = 0; j <= i; j++) {
          for (let c = 0; c < HS; c++) out[(b * T + i) * C + h * HS + c] += (e[j] / sum) * at(j, 2, c)
        }
      }
    }
  }
  return out
}

describe.skipIf(!native)('row-layout attention matches the reference', () => {
  // [B, T, NH, HS]
  const rows = ([B, T, NH, HS]: number[], opts = {}) => {
    const shape = [B * T, NH * HS]
    const scale = 1 / Math.sqrt(HS)
    return expectParity([{shape}, {shape}, {shape}],
      (q, k, v) => ops.causalAttentionRowsReference(q as T2, k as T2, v as T2, B, NH, scale),
      (q, k, v) => ops.causalAttentionRows(q as T2, k as T2, v as T2, B, NH, scale), opts)
  }
  const qkv = ([B, T, NH, HS]: number[], opts: {range?: [number, number]; gradAtol?: number} = {}) => {
    const scale = 1 / Math.sqrt(HS)
    return expectParity([{shape: [B * T, 3 * NH * HS], range: opts.range}],
      (x) => ops.causalAttentionQkvReference(x as T2, B, NH, scale),
      (x) => ops.causalAttentionQkv(x as T2, B, NH, scale), opts)
  }
  it('rows [B 2, T 65, NH 3, HS 7] (odd head size, T crosses the 48-row block)', () => rows([2, 65, 3, 7]))
  it('rows T=1', () => rows([2, 1, 2, 5]))
  it('rows B=1, NH=1, T=100, HS=33', () => rows([1, 100, 1, 33], {gradAtol: 2e-4}))
  it('qkv [B 2, T 65, NH 3, HS 7]', () => qkv([2, 65, 3, 7]))
  it('qkv [B 3, T 49, NH 8, HS 16] (the presets\' head size, one row past a block)', () => qkv([3, 49, 8, 16]))
  it('qkv B=1, NH=1, T=97, HS=33', () => qkv([1, 97, 1, 33], {gradAtol: 2e-4}))
  it('qkv T=1', () => qkv([4, 1, 2, 3]))
  it('qkv with large scores (range [-6, 6])', () => qkv([2, 50, 2, 9], {range: [-6, 6], gradAtol: 2e-3}))

  it('keeps the tensor count stable across repeated customGrad calls in tf.tidy', async () => {
    await initBackend('native')
    const x = tf.randomNormal([2 * 9, 3 * 2 * 4]) as T2
    const step = () =>
      tf.tidy(() => {
        const f = (xx: tf.Tensor) => {
          const [q, k, v] = tf.split(xx, 3, 1) as T2[]
          return tf.add(tf.sum(ops.causalAttentionQkv(xx as T2, 2, 2, 0.5)),
            tf.sum(ops.causalAttentionRows(q, k, v, 2, 2, 0.5))) as tf.Scalar
        }
        return tf.sum(tf.grad(f)(x)).dataSync()[0]
      })
    step()
    const before = tf.memory().numTensors
    for (let i = 0; i < 5; i++) step()
    expect(tf.memory().numTensors).toBe(before)
    x.dispose()
  })

  it('rejects a shape that is not B·T rows by 3·NH·HS columns', async () => {
    await initBackend('native')
    const x = tf.zeros([10, 12]) as T2
    expect(() => ops.causalAttentionQkv(x, 3, 2, 1)).toThrow(/B = 3/)
    expect(() => ops.causalAttentionQkv(x, 2, 3, 1)).toThrow(/NH = 3/)
    x.dispose()
  })
})

describe.skipIf(!native)('attentionRows kernels vs finite differences', () => {
  // B 2, T 50 (past the 48-row block), NH 2, HS 3; qkv rows padded to ld = 3·C + 2, whose pad columns the kernel
  // must leave alone.
  const [B, T, NH, HS, scale] = [2, 50, 2, 3, 0.7]
  const C = NH * HS
  const ld = 3 * C + 2
  const N = B * T
  const x = uniform(N * ld, 21, -1.5, 1.5)
  const R = uniform(N * C, 22)
  const isPad = (i: number) => i % ld >= 3 * C

  it('forward and backward on a strided fused qkv', () => {
    const out = new Float32Array(N * C)
    const P = new Float32Array(B * NH * T * T)
    native!.attentionRowsForward(x, x.subarray(C), x.subarray(2 * C), ld, B, T, NH, HS, scale, out, P)
    const X = f64(x)
    expectClose('out', out, Float32Array.from(attentionQkv64(X, ld, B, T, NH, HS, scale)), 1e-5, 1e-4)
    const d = new Float32Array(N * ld).fill(7)
    native!.attentionRowsBackward(R, x, x.subarray(C), x.subarray(2 * C), P, ld, B, T, NH, HS, scale,
      d, d.subarray(C), d.subarray(2 * C))
    const pad = Array.from(d).filter((_, i) => isPad(i))
    expect(pad.every((z) => z === 7), 'pad columns untouched').toBe(true)
    const want = numericGrad((xx) => dot(R, attentionQkv64(xx, ld, B, T, NH, HS, scale)), X)
    const got = d.map((z, i) => (isPad(i) ? 0 : z))
    expectClose('dqkv', got, want, 2e-4, 2e-3)
  })

  it('rejects short buffers and ld < NH·HS', () => {
    // v from column 2C + 3 of the padded rows is one element short of (N − 1)·ld + C
    const out = new Float32Array(N * C)
    const P = new Float32Array(B * NH * T * T)
    expect(() => native!.attentionRowsForward(x, x.subarray(C), x.subarray(2 * C + 3), ld, B, T, NH, HS, scale, out, P))
      .toThrow(/'v' has/)
    expect(() => native!.attentionRowsForward(x, x, x, C - 1, B, T, NH, HS, scale, out, P)).toThrow(/ld must be/)
    expect(() => native!.attentionRowsForward(x, x, x, ld, B, T, NH, HS, scale, out, P.subarray(1))).toThrow(/'P' has/)
  })
})
