/**
 * Shared helpers for the compute tests: a seeded RNG, tolerance checks that report the first mismatches, and
 * `expectParity`, which runs a reference op on the cpu backend and a fast op on the native backend on the same
 * seeded inputs and compares values and gradients (of a fixed random projection of the output).
 */
import * as tf from '@tensorflow/tfjs-core'
import {expect} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {loadNative} from '../../src/compute/native.js'
import {mulberry32} from '../prng.js'

export const native = loadNative().addon

/** Mulberry32: small, seeded, good enough for test data. */
export const rng = mulberry32

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed)
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r()
  return a
}

export function ints(n: number, seed: number, max: number): Int32Array {
  const r = rng(seed)
  const a = new Int32Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * max)
  return a
}

/** |a − r| ≤ atol + rtol·|r| everywhere; on failure the message lists the first 5 mismatches and the max diff. */
export function expectClose(what: string, a: ArrayLike<number>, r: ArrayLike<number>, atol: number, rtol: number): void {
  expect(a.length, `${what}: length`).toBe(r.length)
  const bad: string[] = []
  let maxDiff = 0
  let count = 0
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(a[i] - r[i])
    if (!(d <= atol + rtol * Math.abs(r[i]))) {
      count++
      if (bad.length < 5) bad.push(`[${i}] got ${a[i]} want ${r[i]}`)
    }
    if (d > maxDiff || Number.isNaN(d)) maxDiff = d
  }
  expect(count, `${what}: ${count} mismatches (max diff ${maxDiff}): ${bad.join(', ')}`).toBe(0)
}

export interface InputSpec {
  shape: number[]
  /** 'int32' inputs are drawn from [0, max). */
  dtype?: 'float32' | 'int32'
  max?: number
  range?: [number, number]
}

export interface ParityOptions {
  atol?: number
  rtol?: number
  gradAtol?: number
  gradRtol?: number
  seed?: number
}

type OpFn = (...xs: tf.Tensor[]) => tf.Tensor

/** Value and gradients (w.r.t. float inputs) of sum(op(...) ⊙ R) for a fixed random R, on `backend`. */
async function evaluate(backend: 'cpu' | 'native', op: OpFn, data: (Float32Array | Int32Array)[], specs: InputSpec[],
  seed: number): Promise<{shape: number[]; dtype: string; value: Float32Array; grads: Float32Array[]}> {
  await initBackend(backend)
  return tf.tidy(() => {
    const xs = data.map((d, i) => tf.tensor(d, specs[i].shape, specs[i].dtype ?? 'float32'))
    const floatIdx = specs.map((s, i) => (s.dtype === 'int32' ? -1 : i)).filter((i) => i >= 0)
    const y = op(...xs)
    const R = tf.tensor(uniform(y.size, seed + 99), y.shape)
    const f = (...fl: tf.Tensor[]) => {
      const args = xs.slice()
      floatIdx.forEach((k, j) => (args[k] = fl[j]))
      return tf.sum(tf.mul(op(...args), R)) as tf.Scalar
    }
    const grads = tf.grads(f)(floatIdx.map((k) => xs[k]))
    return {shape: y.shape, dtype: y.dtype, value: Float32Array.from(y.dataSync()),
      grads: grads.map((g) => Float32Array.from(g.dataSync()))}
  })
}

export async function expectParity(specs: InputSpec[], ref: OpFn, fast: OpFn, o: ParityOptions = {}): Promise<void> {
  const seed = o.seed ?? 1
  const data = specs.map((s, i) => s.dtype === 'int32'
    ? ints(s.shape.reduce((a, b) => a * b, 1), seed + i, s.max ?? 10)
    : uniform(s.shape.reduce((a, b) => a * b, 1), seed + i, ...(s.range ?? [-1, 1])))
  const r = await evaluate('cpu', ref, data, specs, seed)
  const f = await evaluate('native', fast, data, specs, seed)
  expect(f.shape, 'shape').toEqual(r.shape)
  expect(f.dtype, 'dtype').toBe(r.dtype)
  expectClose('value', f.value, r.value, o.atol ?? 1e-5, o.rtol ?? 1e-4)
  r.grads.forEach((g, i) => expectClose(`grad ${i}`, f.grads[i], g, o.gradAtol ?? 1e-4, o.gradRtol ?? 1e-3))
}

/** Central-difference gradient of a float64 scalar function at x (modifies and restores x). */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const old = x[i]
    x[i] = old + h
    const fp = f(x)
    x[i] = old - h
    const fm = f(x)
    x[i] = old
    g[i] = (fp - fm) / (2 * h)
  }
  return g
}
