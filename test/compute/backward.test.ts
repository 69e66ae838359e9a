// Finite-difference checks of the hand-written native backwards: each kernel's gradient of L = Σ R ⊙ f(inputs)
// (R fixed random) against central differences of a float64 JS forward.
import {describe, it} from 'vitest'

import {expectClose, ints, native, numericGrad, uniform} from './helpers.js'

const f64 = (a: Float32Array) => Float64Array.from(a)
const f32 = (a: Float64Array) => Float32Array.from(a)
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

// Float64 forwards (B,T,C… as in native/kernels.h).
function layerNorm64(x: Float64Array, g: Float64Array, b: Float64Array, N: number, C: number, eps: number): Float64Array {
  const y = new Float64Array(N * C)
  for (let i = 0; i < N; i++) {
    let m = 0
    for (let c = 0; c < C; c++) m += x[i * C + c]
    m /= C
    let v = 0
    for (let c = 0; c < C; c++) v += (x[i * C + c] - m) ** 2
    const rs = 1 / Math.sqrt(v / C + eps)
    for (let c = 0; c < C; c++) y[i * C + c] = (x[i * C + c] - m) * rs * g[c] + b[c]
  }
  return y
}

function gelu64(x: Float64Array): Float64Array {
  const s = Math.sqrt(2 / Math.PI)
  return x.map((v) => 0.5 * v * (1 + Math.tanh(s * (v + 0.044715 * v ** 3))))
}

function attention64(q: Float64Array, k: Float64Array, v: Float64Array, BH: number, T: number, HS: number,
  scale: number): Float64Array {
  const out = new Float64Array(BH * T * HS)
  for (let h = 0; h < BH; h++) {
    const o = h * T * HS
    for (let i = 0; i < T; i++) {
      const s: number[] = []
      for (let j = 0; j <= i; j++) {
        let d = 0
        for (let c = 0; c < HS; c++) d += q[o + i * HS + c] * k[o + j * HS + c]
        s.push(d * scale)
      }
      const mx = Math.max(...s)
      const e = s.map((x) => Math.exp(x - mx))
      const z = e.reduce((a, b) => a + b, 0)
      for (let j = 0; j <= i; j++) for (let c = 0; c < HS; c++) out[o + i * HS + c] += (e[j] / z) * v[o + j * HS + c]
    }
  }
  return out
}

function crossEntropy64(logits: Float64Array, t: Int32Array, N: number, V: number): number {
  let loss = 0
  for (let i = 0; i < N; i++) {
    const row = logits.subarray(i * V, (i + 1) * V)
    const mx = Math.max(...row)
    const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0))
    loss += lse - row[t[i]]
  }
  return loss / N
}

const TOL = {atol: 2e-4, rtol: 2e-3}

describe.skipIf(!native)('native backward kernels vs finite differences', () => {
  it('layerNormBackward', () => {
    const [N, C, eps] = [5, 13, 1e-5]
    const x = uniform(N * C, 1, -2, 2), g = uniform(C, 2), b = uniform(C, 3), R = uniform(N * C, 4)
    const y = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N)
    native!.layerNormForward(x, g, b, N, C, eps, y, mean, rstd)
    expectClose('y', y, f32(layerNorm64(f64(x), f64(g), f64(b), N, C, eps)), 1e-5, 1e-4)
    const dx = new Float32Array(N * C), dg = new Float32Array(C), db = new Float32Array(C)
    native!.layerNormBackward(R, x, g, mean, rstd, N, C, dx, dg, db)
    const X = f64(x), G = f64(g), Bv = f64(b)
    expectClose('dx', dx, numericGrad((xx) => dot(R, layerNorm64(xx, G, Bv, N, C, eps)), X), TOL.atol, TOL.rtol)
    expectClose('dg', dg, numericGrad((gg) => dot(R, layerNorm64(X, gg, Bv, N, C, eps)), G), TOL.atol, TOL.rtol)
    expectClose('db', db, numericGrad((bb) => dot(R, layerNorm64(X, G, bb, N, C, eps)), Bv), TOL.atol, TOL.rtol)
  })

  it('geluBackward', () => {
    const n = 37
    const x = uniform(n, 5, -5, 5), R = uniform(n, 6)
    const dx = new Float32Array(n)
    native!.geluBackward(x, R, dx, n)
    expectClose('dx', dx, numericGrad((xx) => dot(R, gelu64(xx)), f64(x)), TOL.atol, TOL.rtol)
  })

  it('attentionBackward (BH 2, T 5, HS 3)', () => {
    const [BH, T, HS, scale] = [2, 5, 3, 0.7]
    const n = BH * T * HS
    const q = uniform(n, 7), k = uniform(n, 8), v = uniform(n, 9), R = uniform(n, 10)
    const out = new Float32Array(n), P = new Float32Array(BH * T * T)
    native!.attentionForward(q, k, v, BH, T, HS, scale, out, P)
    expectClose('out', out, f32(attention64(f64(q), f64(k), f64(v), BH, T, HS, scale)), 1e-5, 1e-4)
    const dq = new Float32Array(n), dk = new Float32Array(n), dv = new Float32Array(n)
    native!.attentionBackward(R, q, k, v, P, BH, T, HS, scale, dq, dk, dv)
    const Q = f64(q), K = f64(k), Vv = f64(v)
    expectClose('dq', dq, numericGrad((x) => dot(R, attention64(x, K, Vv, BH, T, HS, scale)), Q), TOL.atol, TOL.rtol)
    expectClose('dk', dk, numericGrad((x) => dot(R, attention64(Q, x, Vv, BH, T, HS, scale)), K), TOL.atol, TOL.rtol)
    expectClose('dv', dv, numericGrad((x) => dot(R, attention64(Q, K, x, BH, T, HS, scale)), Vv), TOL.atol, TOL.rtol)
  })

  it('crossEntropyBackward', () => {
    const [N, V] = [4, 11]
    const logits = uniform(N * V, 11, -3, 3), t = ints(N, 12, V)
    const lse = new Float32Array(N)
    const loss = native!.crossEntropyForward(logits, t, N, V, lse)
    expectClose('loss', [loss], [crossEntropy64(f64(logits), t, N, V)], 1e-5, 1e-5)
    const d = new Float32Array(N * V)
    native!.crossEntropyBackward(logits, t, lse, N, V, 1.5, d)
    const want = numericGrad((x) => 1.5 * crossEntropy64(x, t, N, V), f64(logits))
    expectClose('dlogits', d, want, TOL.atol, TOL.rtol)
  })

  it('embeddingBackward is the scatter-add of dout rows', () => {
    const [N, C, V] = [9, 5, 4]
    const ids = ints(N, 13, V), dout = uniform(N * C, 14)
    const dt = new Float32Array(V * C).fill(7) // overwritten, not accumulated into
    native!.embeddingBackward(dout, ids, N, C, V, dt)
    const want = new Float64Array(V * C)
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) want[ids[n] * C + c] += dout[n * C + c]
    expectClose('dtable', dt, want, 1e-6, 1e-6)
  })
})
