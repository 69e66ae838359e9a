// The native SGEMM against a naive float64 triple loop: every transpose combination, batching with strides and
// broadcast (stride 0), alpha/beta, and shapes that cross the kernel's tile (12×32) and block (MC 144, KC 384) edges.
import {describe, expect, it} from 'vitest'

import {expectClose, native, uniform} from './helpers.js'

/** C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] in float64. */
function naive(A: Float32Array, B: Float32Array, C: Float32Array, batch: number, M: number, N: number, K: number,
  ta: boolean, tb: boolean, sA: number, sB: number, sC: number, alpha: number, beta: number): Float32Array {
  const out = Float32Array.from(C)
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0
        for (let k = 0; k < K; k++) {
          const a = ta ? A[b * sA + k * M + i] : A[b * sA + i * K + k]
          const bb = tb ? B[b * sB + j * K + k] : B[b * sB + k * N + j]
          acc += a * bb
        }
        const c = b * sC + i * N + j
        out[c] = alpha * acc + (beta === 0 ? 0 : beta * C[c])
      }
    }
  }
  return out
}

const shapes: [number, number, number][] = [
  [1, 1, 1], [45, 65, 33], [64, 99, 17], [13, 31, 5], [150, 70, 400], [12, 32, 0], [2, 200, 3],
]

describe.skipIf(!native)('native gemm', () => {
  for (const [M, N, K] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`[${M},${N},${K}] transA=${ta} transB=${tb}`, () => {
          const A = uniform(M * K, 1), B = uniform(K * N, 2), C = uniform(M * N, 3)
          const want = naive(A, B, C, 1, M, N, K, ta, tb, 0, 0, 0, 1, 0)
          const got = Float32Array.from(C)
          native!.gemm(A, B, got, 1, M, N, K, ta, tb, 0, 0, 0, 1, 0)
          expectClose('C', got, want, 1e-5, 1e-5 * Math.max(1, K))
        })
      }
    }
  }

  it('alpha and beta (beta=0 ignores NaN in C)', () => {
    const [M, N, K] = [37, 53, 29]
    const A = uniform(M * K, 4), B = uniform(K * N, 5), C = uniform(M * N, 6)
    const got = Float32Array.from(C)
    native!.gemm(A, B, got, 1, M, N, K, false, true, 0, 0, 0, 0.5, -2)
    expectClose('C', got, naive(A, B, C, 1, M, N, K, false, true, 0, 0, 0, 0.5, -2), 1e-5, 1e-4)
    const nan = new Float32Array(M * N).fill(NaN)
    native!.gemm(A, B, nan, 1, M, N, K, false, false, 0, 0, 0, 1, 0)
    expectClose('C', nan, naive(A, B, C, 1, M, N, K, false, false, 0, 0, 0, 1, 0), 1e-5, 1e-4)
  })

  for (const [batch, sAz, sBz] of [[5, false, false], [4, true, false], [3, false, true], [1, false, false]] as const) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`batched ${batch} broadcastA=${sAz} broadcastB=${sBz} transA=${ta} transB=${tb}`, () => {
        const [M, N, K] = [19, 27, 11]
        const sA = sAz ? 0 : M * K, sB = sBz ? 0 : K * N, sC = M * N
        const A = uniform(sAz ? M * K : batch * M * K, 7), B = uniform(sBz ? K * N : batch * K * N, 8)
        const C = uniform(batch * M * N, 9)
        const got = Float32Array.from(C)
        native!.gemm(A, B, got, batch, M, N, K, ta, tb, sA, sB, sC, 1, 1)
        expectClose('C', got, naive(A, B, C, batch, M, N, K, ta, tb, sA, sB, sC, 1, 1), 1e-5, 1e-4)
      })
    }
  }

  it('large products (1024³ all transposes; N beyond the 3072-column block) on sampled entries', () => {
    for (const [M, N, K] of [[1024, 1024, 1024], [9, 3100, 40]]) {
      const A = uniform(M * K, 21), B = uniform(K * N, 22)
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const C = new Float32Array(M * N)
        native!.gemm(A, B, C, 1, M, N, K, ta, tb, 0, 0, 0, 1, 0)
        const got: number[] = []
        const want: number[] = []
        for (let s = 0; s < 300; s++) {
          const i = (s * 7919) % M, j = (s * 104729 + 13) % N
          let acc = 0
          for (let k = 0; k < K; k++) acc += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j])
          got.push(C[i * N + j])
          want.push(acc)
        }
        expectClose(`[${M},${N},${K}] ta=${ta} tb=${tb}`, got, want, 1e-4, 1e-4)
      }
    }
  })

  it('rejects buffers too short for the shape', () => {
    const a = new Float32Array(10)
    expect(() => native!.gemm(a, a, a, 1, 4, 4, 4, false, false, 0, 0, 0, 1, 0)).toThrow(/needs 16/)
    expect(() => native!.gemm(a, new Int32Array(16) as unknown as Float32Array, a, 1, 2, 2, 2, false, false, 0, 0, 0, 1, 0))
      .toThrow(/Float32Array/)
  })
})
