/**
 * The `native` tfjs backend: a MathBackendCPU (same tensor storage, so `dataSync()` stays zero-copy) with all
 * of the cpu backend's kernels registered under 'native', and the hot ones replaced by calls into the addon:
 * BatchMatMul, _FusedMatMul (linear activation), UnsortedSegmentSum, Softmax, Transpose, SplitV, Concat, and
 * Add/Sub/Mul/RealDiv where one operand broadcasts as a suffix of the other (same shape, a bias row, a scalar) or
 * per row ([R, C] with [R, 1]). Anything a native
 * kernel does not handle (other dtypes, general broadcasting, fused activations) goes to the cpu kernel.
 */
import * as tf from '@tensorflow/tfjs-core'
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu'

import type {NativeAddon} from './native.js'

export const NATIVE_BACKEND = 'native'

type Args = Parameters<tf.KernelFunc>[0]

class NativeBackend extends MathBackendCPU {
  constructor() {
    super()
    // MathBackendCPU prints a "use tfjs-node" banner on first use; this backend is the fast path.
    ;(this as unknown as {firstUse: boolean}).firstUse = false
  }
}

let registered = false

/** Registers the 'native' backend and its kernels once. Priority 0: it is used only when selected. */
export function registerNativeBackend(addon: NativeAddon): void {
  if (registered) return
  registered = true
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0)
  const cpu = new Map(tf.getKernelsForBackend('cpu').map((k) => [k.kernelName, k]))
  const overrides = makeOverrides(addon, (name) => cpu.get(name)?.kernelFunc)
  for (const k of cpu.values()) {
    tf.registerKernel({...k, backendName: NATIVE_BACKEND, kernelFunc: overrides.get(k.kernelName) ?? k.kernelFunc})
  }
}

/** The kernel names the native backend runs natively (for notes and tests). */
export const NATIVE_KERNELS = ['BatchMatMul', '_FusedMatMul', 'UnsortedSegmentSum', 'Softmax', 'Transpose', 'SplitV',
  'Add', 'Sub', 'Multiply', 'RealDiv', 'Concat'] as const

function values(backend: unknown, t: tf.TensorInfo): Float32Array {
  return (backend as MathBackendCPU).data.get(t.dataId)!.values as Float32Array
}

function ints(backend: unknown, t: tf.TensorInfo): Int32Array {
  const v = (backend as MathBackendCPU).data.get(t.dataId)!.values
  return v instanceof Int32Array ? v : Int32Array.from(v as Float32Array)
}

function output(backend: unknown, shape: number[], data: Float32Array): tf.TensorInfo {
  return (backend as MathBackendCPU).makeTensorInfo(shape, 'float32', data)
}

function prod(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1)
}

/** x broadcasts to `out` as a suffix: x's shape without leading 1s equals out's trailing axes. */
function isSuffix(x: readonly number[], out: readonly number[]): boolean {
  let i = 0
  while (i < x.length && x[i] === 1) i++
  const xs = x.slice(i)
  const tail = out.slice(out.length - xs.length)
  return xs.length <= out.length && xs.every((d, k) => d === tail[k])
}

/**
 * Rows of x, when x broadcasts to `out` as a prefix with trailing 1s (a per-row scale such as [R, C] ⊙ [R, 1]):
 * the number of rows (prod of x's shape without trailing 1s, which must equal out's leading axes), else -1.
 */
function prefixRows(x: readonly number[], out: readonly number[]): number {
  let j = x.length
  while (j > 0 && x[j - 1] === 1) j--
  if (j === x.length) return -1 // no trailing 1s: not this pattern
  const lead = out.length - x.length // x left-padded with 1s
  for (let k = 0; k < lead; k++) if (out[k] !== 1) return -1
  for (let k = 0; k < j; k++) if (x[k] !== out[lead + k]) return -1
  return prod(x.slice(0, j))
}

/** out[r·inner + i] = full[r·inner + i] op row[r] (or row[r] op full[…] when `rowFirst`). */
function rowBroadcast(op: 0 | 1 | 2 | 3, full: Float32Array, row: Float32Array, rowFirst: boolean, out: Float32Array): void {
  const R = row.length
  const inner = out.length / R
  for (let r = 0; r < R; r++) {
    const v = row[r]
    const o = r * inner
    const e = o + inner
    if (op === 0) for (let i = o; i < e; i++) out[i] = full[i] + v
    else if (op === 2) for (let i = o; i < e; i++) out[i] = full[i] * v
    else if (op === 1) {
      if (rowFirst) for (let i = o; i < e; i++) out[i] = v - full[i]
      else for (let i = o; i < e; i++) out[i] = full[i] - v
    } else if (rowFirst) for (let i = o; i < e; i++) out[i] = v / full[i]
    else for (let i = o; i < e; i++) out[i] = full[i] / v
  }
}

function makeOverrides(addon: NativeAddon, cpu: (name: string) => tf.KernelFunc | undefined): Map<string, tf.KernelFunc> {
  const m = new Map<string, tf.KernelFunc>()
  const withFallback = (name: string, fast: (args: Args) => tf.TensorInfo | tf.TensorInfo[] | null) => {
    const slow = cpu(name)
    if (!slow) return
    m.set(name, (args) => fast(args) ?? slow(args))
  }

  // C[...batch, M, N] = op(A)·op(B); batch dims equal, or one side has batch 1 (stride 0).
  const matmul = (a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean, backend: unknown,
    bias?: tf.TensorInfo): tf.TensorInfo | null => {
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null
    const ra = a.shape.length
    const rb = b.shape.length
    const M = ta ? a.shape[ra - 1] : a.shape[ra - 2]
    const K = ta ? a.shape[ra - 2] : a.shape[ra - 1]
    const Kb = tb ? b.shape[rb - 1] : b.shape[rb - 2]
    const N = tb ? b.shape[rb - 2] : b.shape[rb - 1]
    if (K !== Kb) return null
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
    const batch = prod(batchShape)
    const batchA = prod(a.shape.slice(0, -2))
    const batchB = prod(b.shape.slice(0, -2))
    if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1) || batch * M * N === 0) return null
    const out = new Float32Array(batch * M * N)
    let beta = 0
    if (bias) {
      if (bias.dtype !== 'float32') return null
      if (bias.shape.length > 1 && prod(bias.shape) !== N) return null
      const bv = values(backend, bias)
      if (bv.length === N) addon.biasAdd(out, bv, batch * M, N)
      else if (bv.length === 1) out.fill(bv[0])
      else return null
      beta = 1
    }
    addon.gemm(values(backend, a), values(backend, b), out, batch, M, N, K, ta, tb,
      batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N, M * N, 1, beta)
    return output(backend, [...batchShape, M, N], out)
  }

  withFallback('BatchMatMul', ({inputs, backend, attrs}) => {
    const {transposeA, transposeB} = attrs as {transposeA: boolean; transposeB: boolean}
    return matmul(inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo, transposeA, transposeB, backend)
  })

  withFallback('_FusedMatMul', ({inputs, backend, attrs}) => {
    const {transposeA, transposeB, activation} = attrs as {transposeA: boolean; transposeB: boolean; activation?: string}
    if ((activation && activation !== 'linear') || inputs.preluActivationWeights) return null
    return matmul(inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo, transposeA, transposeB, backend,
      (inputs.bias as tf.TensorInfo | undefined) ?? undefined)
  })

  // out[numSegments, ...rest] = Σ rows of x[N, ...rest] by segment id (the gradient of gather).
  withFallback('UnsortedSegmentSum', ({inputs, backend, attrs}) => {
    const x = inputs.x as tf.TensorInfo
    const ids = inputs.segmentIds as tf.TensorInfo
    const {numSegments} = attrs as {numSegments: number}
    if (x.dtype !== 'float32' || ids.shape.length !== 1 || x.shape.length < 1 || x.shape[0] !== ids.shape[0]) return null
    const N = x.shape[0]
    const C = N === 0 ? prod(x.shape.slice(1)) : prod(x.shape) / N
    const out = new Float32Array(numSegments * C)
    try {
      addon.embeddingBackward(values(backend, x), ints(backend, ids), N, C, numSegments, out)
    } catch {
      return null // ids outside [0, numSegments): the cpu kernel's semantics (skip them)
    }
    return output(backend, [numSegments, ...x.shape.slice(1)], out)
  })

  withFallback('Softmax', ({inputs, backend, attrs}) => {
    const x = inputs.logits as tf.TensorInfo
    const {dim} = attrs as {dim: number}
    const r = x.shape.length
    if (x.dtype !== 'float32' || r === 0 || (dim !== -1 && dim !== r - 1)) return null
    const D = x.shape[r - 1]
    const out = new Float32Array(prod(x.shape))
    addon.softmax(values(backend, x), out.length / D, D, out)
    return output(backend, [...x.shape], out)
  })

  withFallback('Transpose', ({inputs, backend, attrs}) => {
    const x = inputs.x as tf.TensorInfo
    const {perm} = attrs as {perm: number[]}
    if (x.dtype !== 'float32' || x.shape.length > 8) return null
    const out = new Float32Array(prod(x.shape))
    addon.transpose(values(backend, x), [...x.shape], [...perm], out)
    return output(backend, perm.map((p) => x.shape[p]), out)
  })

  // Pieces of x along one axis (tf.split; the gradient of concat): block copies, where the cpu kernel's strided
  // slice goes element by element.
  withFallback('SplitV', ({inputs, backend, attrs}) => {
    const x = inputs.x as tf.TensorInfo
    const {numOrSizeSplits, axis} = attrs as {numOrSizeSplits: number | number[]; axis: number}
    if (x.dtype !== 'float32' || x.shape.length === 0) return null
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax)
    const outer = prod(x.shape.slice(0, ax))
    const D = x.shape[ax]
    const inner = prod(x.shape.slice(ax + 1))
    const xv = values(backend, x)
    let begin = 0
    return sizes.map((s) => {
      const out = new Float32Array(outer * s * inner)
      for (let o = 0; o < outer; o++) {
        const from = (o * D + begin) * inner
        out.set(xv.subarray(from, from + s * inner), o * s * inner)
      }
      begin += s
      return output(backend, x.shape.map((d, i) => (i === ax ? s : d)), out)
    })
  })

  // Pieces joined along one axis (tf.concat; the LiGO expansions): per outer index one block copy per piece,
  // where the cpu kernel copies row by row through 2-D views.
  withFallback('Concat', ({inputs, backend, attrs}) => {
    const xs = inputs as unknown as tf.TensorInfo[]
    const {axis} = attrs as {axis: number}
    if (xs.length === 0 || xs.some((x) => x.dtype !== 'float32' || x.shape.length !== xs[0].shape.length)) return null
    const rank = xs[0].shape.length
    if (rank === 0) return null
    const ax = tf.util.parseAxisParam(axis, xs[0].shape)[0]
    const outer = prod(xs[0].shape.slice(0, ax))
    const inner = prod(xs[0].shape.slice(ax + 1))
    if (xs.some((x) => x.shape.some((d, k) => k !== ax && d !== xs[0].shape[k]))) return null
    const D = xs.reduce((n, x) => n + x.shape[ax], 0)
    const out = new Float32Array(outer * D * inner)
    let begin = 0
    for (const x of xs) {
      const w = x.shape[ax] * inner
      if (w > 0) {
        const xv = values(backend, x)
        for (let o = 0; o < outer; o++) out.set(xv.subarray(o * w, o * w + w), (o * D) * inner + begin)
      }
      begin += w
    }
    return output(backend, xs[0].shape.map((d, k) => (k === ax ? D : d)), out)
  })

  const binary = (name: string, op: 0 | 1 | 2 | 3) =>
    withFallback(name, ({inputs, backend}) => {
      const a = inputs.a as tf.TensorInfo
      const b = inputs.b as tf.TensorInfo
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return null
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape)
      const n = prod(shape)
      if (n === 0) return null
      if (!isSuffix(a.shape, shape) || !isSuffix(b.shape, shape)) {
        // A per-row operand ([R, C] ⊙ [R, 1], the LiGO in-dimension scale and its gradient): one pass over the
        // full operand, where the cpu kernel's generic broadcast maps every index through strides.
        const full = prod(a.shape) === n ? 'a' : prod(b.shape) === n ? 'b' : null
        if (full === null) return null
        const rowT = full === 'a' ? b : a
        if (prefixRows(rowT.shape, shape) < 0) return null
        const out = new Float32Array(n)
        rowBroadcast(op, values(backend, full === 'a' ? a : b), values(backend, rowT), full === 'b', out)
        return output(backend, shape, out)
      }
      const out = new Float32Array(n)
      const av = values(backend, a)
      const bv = values(backend, b)
      addon.binary(op, av, av.length, bv, bv.length, out, n)
      return output(backend, shape, out)
    })
  binary('Add', 0)
  binary('Sub', 1)
  binary('Multiply', 2)
  binary('RealDiv', 3)
  return m
}
