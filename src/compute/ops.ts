/**
 * The model's compute primitives. Every op has a reference implementation written with plain tfjs ops
 * (autodiff gives its gradient). When the `native` backend is active (see backend.ts) each op instead runs a
 * fused native kernel with a hand-written backward, wired in through `tf.customGrad`: the forward reads its
 * inputs' Float32Arrays (zero-copy on cpu-family backends), calls the addon, and wraps the output buffer as a
 * tensor (zero-copy too); the gradient function calls the addon's backward kernel. The parity tests in
 * test/compute check the two paths agree, forward and gradient.
 *
 * Shape letters: B batch, T time, C channels (residual width), NH heads, HS head size, F FFN width, V vocab,
 * N = B*T rows, D a linear layer's output width.
 */
import * as tf from '@tensorflow/tfjs-core'
// tfjs-core's Node entry has no gradient functions: gradients.ts registers them.
import './gradients.js'

import {nativeAddon, type NativeAddon} from './native.js'

// ---------------------------------------------------------------------------------------------------------
// Public ops: native fast path when the native backend is active, else the reference.

/** y[N,D] = x[N,C] · w[C,D] + b[D]. Weights are stored (in, out), as in GPT-2's Conv1D. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  if (fastPath(x, w) && (!b || b.dtype === 'float32')) {
    return (b ? nativeLinearBias()(x, w, b) : nativeLinearNoBias()(x, w)) as tf.Tensor2D
  }
  return linearReference(x, w, b)
}

/** LayerNorm over the last axis: x[N,C], gain g[C], bias b[C]. */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps = 1e-5): tf.Tensor2D {
  if (fastPath(x, g, b)) return nativeLayerNorm(eps)(x, g, b) as tf.Tensor2D
  return layerNormReference(x, g, b, eps)
}

/** GELU, tanh approximation (GPT-2's `gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function gelu<T extends tf.Tensor>(x: T): T {
  if (fastPath(x)) return nativeGelu()(x) as T
  return geluReference(x)
}

/**
 * Causal self-attention on per-head tensors q, k, v [B,NH,T,HS]: softmax(q·kᵀ·scale + causal mask)·v → [B,NH,T,HS].
 * Position t attends to positions ≤ t only.
 */
export function causalAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  if (fastPath(q, k, v)) return nativeAttention(scale)(q, k, v) as tf.Tensor4D
  return causalAttentionReference(q, k, v, scale)
}

/**
 * causalAttention on q, k, v in the layout of their projections, [B·T, NH·HS] each (row = token, columns
 * head-major), → [B·T, NH·HS] in the same layout: merge(causalAttention(heads(q), heads(k), heads(v))). The native
 * kernel reads and writes these layouts directly, so neither direction transposes.
 */
export function causalAttentionRows(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, NH: number,
  scale: number): tf.Tensor2D {
  if (fastPath(q, k, v)) return nativeAttentionRows(scale, B, NH)(q, k, v) as tf.Tensor2D
  return causalAttentionRowsReference(q, k, v, B, NH, scale)
}

/**
 * causalAttentionRows on one fused projection qkv [B·T, 3·NH·HS] (columns: q, then k, then v, each head-major)
 * → [B·T, NH·HS]. The native backward writes dqkv as one buffer.
 */
export function causalAttentionQkv(qkv: tf.Tensor2D, B: number, NH: number, scale: number): tf.Tensor2D {
  if (fastPath(qkv)) return nativeAttentionQkv(scale, B, NH)(qkv) as tf.Tensor2D
  return causalAttentionQkvReference(qkv, B, NH, scale)
}

/** Mean cross-entropy of logits[N,V] against integer targets[N]. */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  if (fastPath(logits)) return nativeCrossEntropy()(logits, targets) as tf.Scalar
  return crossEntropyReference(logits, targets)
}

/** Rows of table[V,C] at ids[N] → [N,C]. */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (fastPath(table)) return nativeEmbedding()(table, ids) as tf.Tensor2D
  // wasm has no UnsortedSegmentSum kernel, so gather's own gradient fails there: scatter-add in JS instead.
  if (tf.getBackend() === 'wasm' && table.dtype === 'float32') return scatterGradEmbedding()(table, ids) as tf.Tensor2D
  return embeddingReference(table, ids)
}

// ---------------------------------------------------------------------------------------------------------
// References (plain tfjs ops; autodiff gives the gradients). Also the fallback on every non-native backend.

export function linearReference(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y = tf.matMul(x, w) as tf.Tensor2D
  return b ? (tf.add(y, b) as tf.Tensor2D) : y
}

export function layerNormReference(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps = 1e-5): tf.Tensor2D {
  const {mean, variance} = tf.moments(x, -1, true)
  const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)))
  return tf.add(tf.mul(xhat, g), b)
}

export function geluReference<T extends tf.Tensor>(x: T): T {
  const c = Math.sqrt(2 / Math.PI)
  const inner = tf.mul(c, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner))) as T
}

export function causalAttentionReference(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const T = q.shape[2]
  const att = tf.mul(tf.matMul(q, k, false, true), scale) // [B,NH,T,T]
  const mask = causalMask(T) // [T,T], 0 where allowed, -1e9 where masked
  const p = tf.softmax(tf.add(att, mask))
  return tf.matMul(p, v) as tf.Tensor4D
}

/** [B·T, NH·HS] → [B,NH,T,HS]. */
function toHeads(y: tf.Tensor2D, B: number, NH: number): tf.Tensor4D {
  const [N, C] = y.shape
  return tf.transpose(tf.reshape(y, [B, N / B, NH, C / NH]), [0, 2, 1, 3]) as tf.Tensor4D
}

/** [B,NH,T,HS] → [B·T, NH·HS]. */
function fromHeads(a: tf.Tensor4D): tf.Tensor2D {
  const [B, NH, T, HS] = a.shape
  return tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [B * T, NH * HS]) as tf.Tensor2D
}

export function causalAttentionRowsReference(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, NH: number,
  scale: number): tf.Tensor2D {
  return fromHeads(causalAttentionReference(toHeads(q, B, NH), toHeads(k, B, NH), toHeads(v, B, NH), scale))
}

export function causalAttentionQkvReference(qkv: tf.Tensor2D, B: number, NH: number, scale: number): tf.Tensor2D {
  const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[]
  return causalAttentionRowsReference(q, k, v, B, NH, scale)
}

function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T)
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9
  return tf.tensor2d(m, [T, T])
}

export function crossEntropyReference(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const lse = tf.logSumExp(logits, -1) // [N]
  const picked = tf.sum(tf.mul(logits, tf.oneHot(tf.cast(targets, 'int32'), logits.shape[1])), -1) // [N]
  return tf.mean(tf.sub(lse, picked)) as tf.Scalar
}

export function embeddingReference(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  return tf.gather(table, ids)
}

// ---------------------------------------------------------------------------------------------------------
// Native paths. Each forward saves what its backward needs; mirrors native/*.cc.

function fastPath(...ts: tf.Tensor[]): boolean {
  return tf.getBackend() === 'native' && nativeAddon() !== null && ts.every((t) => t.dtype === 'float32')
}

function addon(): NativeAddon {
  const a = nativeAddon()
  if (a === null) throw new Error('native addon not loaded')
  return a
}

function f32(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array
}

function i32(t: tf.Tensor): Int32Array {
  const d = t.dataSync()
  return d instanceof Int32Array ? d : Int32Array.from(d as Float32Array)
}

/** Gradient placeholder for integer inputs (ids, targets): the tape never propagates into them. */
function noGrad(t: tf.Tensor): tf.Tensor {
  return tf.zeros(t.shape)
}

type Save = (tensors: tf.Tensor[]) => void
type Grad = {value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[]}
type Op = (...inputs: tf.Tensor[]) => tf.Tensor

/** tf.customGrad over a function of the inputs as a list (customGrad passes `save` as the last argument). */
function custom(fn: (inputs: tf.Tensor[], save: Save) => Grad): Op {
  const f = (...args: unknown[]) => {
    const save = args.pop() as Save
    return fn(args as tf.Tensor[], save)
  }
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Op
}

/** The shape as numbers (rank checked). */
function dims(t: tf.Tensor, rank: number, what: string): number[] {
  if (t.shape.length !== rank) throw new Error(`${what}: expected rank ${rank}, got shape [${t.shape}]`)
  return t.shape as number[]
}

function once<T>(make: () => T): () => T {
  let v: T | undefined
  return () => (v ??= make())
}

// linear: y[N,D] = x[N,C]·w[C,D] (+ b[D]);  dx = dy·wᵀ, dw = xᵀ·dy, db = Σ_rows dy
function linearForward(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, save: Save): Grad {
  const a = addon()
  const [N, C] = dims(x, 2, 'linear x')
  const [Cw, D] = dims(w, 2, 'linear w')
  if (Cw !== C) throw new Error(`linear: x is [${x.shape}] but w is [${w.shape}]`)
  const y = new Float32Array(N * D)
  if (b) a.biasAdd(y, f32(b), N, D)
  a.gemm(f32(x), f32(w), y, 1, N, D, C, false, false, 0, 0, 0, 1, b ? 1 : 0)
  save([x, w])
  return {
    value: tf.tensor2d(y, [N, D]),
    gradFunc: (dy, [xs, ws]) => {
      const g = f32(dy)
      const dx = new Float32Array(N * C)
      const dw = new Float32Array(C * D)
      a.gemm(g, f32(ws), dx, 1, N, C, D, false, true, 0, 0, 0, 1, 0)
      a.gemm(f32(xs), g, dw, 1, C, D, N, true, false, 0, 0, 0, 1, 0)
      const grads: tf.Tensor[] = [tf.tensor2d(dx, [N, C]), tf.tensor2d(dw, [C, D])]
      if (b) {
        const db = new Float32Array(D)
        a.colSum(g, N, D, db)
        grads.push(tf.tensor1d(db))
      }
      return grads
    },
  }
}

const nativeLinearBias = once(() => custom(([x, w, b], save) => linearForward(x, w, b, save)))
const nativeLinearNoBias = once(() => custom(([x, w], save) => linearForward(x, w, null, save)))

// layerNorm: saves x, g, mean[N], rstd[N]
const layerNormByEps = new Map<number, Op>()
function nativeLayerNorm(eps: number): Op {
  let fn = layerNormByEps.get(eps)
  if (!fn) {
    fn = custom(([x, g, b], save) => {
      const a = addon()
      const [N, C] = dims(x, 2, 'layerNorm x')
      const y = new Float32Array(N * C)
      const mean = new Float32Array(N)
      const rstd = new Float32Array(N)
      a.layerNormForward(f32(x), f32(g), f32(b), N, C, eps, y, mean, rstd)
      save([x, g, tf.tensor1d(mean), tf.tensor1d(rstd)])
      return {
        value: tf.tensor2d(y, [N, C]),
        gradFunc: (dy, [xs, gs, ms, rs]) => {
          const dx = new Float32Array(N * C)
          const dg = new Float32Array(C)
          const db = new Float32Array(C)
          a.layerNormBackward(f32(dy), f32(xs), f32(gs), f32(ms), f32(rs), N, C, dx, dg, db)
          return [tf.tensor2d(dx, [N, C]), tf.tensor1d(dg), tf.tensor1d(db)]
        },
      }
    })
    layerNormByEps.set(eps, fn)
  }
  return fn
}

const nativeGelu = once(() =>
  custom(([x], save) => {
    const a = addon()
    const n = x.size
    const y = new Float32Array(n)
    a.geluForward(f32(x), y, n)
    save([x])
    return {
      value: tf.tensor(y, x.shape),
      gradFunc: (dy, [xs]) => {
        const dx = new Float32Array(n)
        a.geluBackward(f32(xs), f32(dy), dx, n)
        return [tf.tensor(dx, xs.shape)]
      },
    }
  }),
)

// causalAttention: saves q, k, v and the probabilities P [B,NH,T,T]
const attentionByScale = new Map<number, Op>()
function nativeAttention(scale: number): Op {
  let fn = attentionByScale.get(scale)
  if (!fn) {
    fn = custom(([q, k, v], save) => {
      const a = addon()
      const [B, NH, T, HS] = dims(q, 4, 'causalAttention q')
      if (!sameShape(q, k) || !sameShape(q, v)) {
        throw new Error(`causalAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] must match`)
      }
      const BH = B * NH
      const out = new Float32Array(BH * T * HS)
      const P = new Float32Array(BH * T * T)
      a.attentionForward(f32(q), f32(k), f32(v), BH, T, HS, scale, out, P)
      save([q, k, v, tf.tensor4d(P, [B, NH, T, T])])
      return {
        value: tf.tensor4d(out, [B, NH, T, HS]),
        gradFunc: (dy, [qs, ks, vs, ps]) => {
          const n = BH * T * HS
          const dq = new Float32Array(n)
          const dk = new Float32Array(n)
          const dv = new Float32Array(n)
          a.attentionBackward(f32(dy), f32(qs), f32(ks), f32(vs), f32(ps), BH, T, HS, scale, dq, dk, dv)
          const shape: [number, number, number, number] = [B, NH, T, HS]
          return [tf.tensor4d(dq, shape), tf.tensor4d(dk, shape), tf.tensor4d(dv, shape)]
        },
      }
    })
    attentionByScale.set(scale, fn)
  }
  return fn
}

// causalAttentionRows / causalAttentionQkv: the same kernel on row layouts; saves the inputs and P [B,NH,T,T]
interface RowsDims {N: number; T: number; HS: number; C: number}

function rowsDims(what: string, N: number, width: number, parts: number, B: number, NH: number): RowsDims {
  if (B < 1 || N % B !== 0 || NH < 1 || width % (parts * NH) !== 0) {
    const cols = parts > 1 ? `${parts}·NH·HS` : 'NH·HS'
    throw new Error(`${what}: [${N}, ${width}] is not B·T rows (B = ${B}) by ${cols} columns (NH = ${NH})`)
  }
  return {N, T: N / B, HS: width / parts / NH, C: width / parts}
}

const attentionRowsByKey = new Map<string, Op>()
function nativeAttentionRows(scale: number, B: number, NH: number): Op {
  const key = `${scale}/${B}/${NH}`
  let fn = attentionRowsByKey.get(key)
  if (!fn) {
    fn = custom(([q, k, v], save) => {
      const a = addon()
      const [N, C] = dims(q, 2, 'causalAttentionRows q')
      if (!sameShape(q, k) || !sameShape(q, v)) {
        throw new Error(`causalAttentionRows: q [${q.shape}], k [${k.shape}], v [${v.shape}] must match`)
      }
      const {T, HS} = rowsDims('causalAttentionRows', N, C, 1, B, NH)
      const out = new Float32Array(N * C)
      const P = new Float32Array(B * NH * T * T)
      a.attentionRowsForward(f32(q), f32(k), f32(v), C, B, T, NH, HS, scale, out, P)
      save([q, k, v, tf.tensor1d(P)])
      return {
        value: tf.tensor2d(out, [N, C]),
        gradFunc: (dy, [qs, ks, vs, ps]) => {
          const dq = new Float32Array(N * C)
          const dk = new Float32Array(N * C)
          const dv = new Float32Array(N * C)
          a.attentionRowsBackward(f32(dy), f32(qs), f32(ks), f32(vs), f32(ps), C, B, T, NH, HS, scale, dq, dk, dv)
          return [tf.tensor2d(dq, [N, C]), tf.tensor2d(dk, [N, C]), tf.tensor2d(dv, [N, C])]
        },
      }
    })
    attentionRowsByKey.set(key, fn)
  }
  return fn
}

const attentionQkvByKey = new Map<string, Op>()
function nativeAttentionQkv(scale: number, B: number, NH: number): Op {
  const key = `${scale}/${B}/${NH}`
  let fn = attentionQkvByKey.get(key)
  if (!fn) {
    fn = custom(([qkv], save) => {
      const a = addon()
      const [N, W] = dims(qkv, 2, 'causalAttentionQkv qkv')
      const {T, HS, C} = rowsDims('causalAttentionQkv', N, W, 3, B, NH)
      const x = f32(qkv)
      const out = new Float32Array(N * C)
      const P = new Float32Array(B * NH * T * T)
      a.attentionRowsForward(x, x.subarray(C), x.subarray(2 * C), W, B, T, NH, HS, scale, out, P)
      save([qkv, tf.tensor1d(P)])
      return {
        value: tf.tensor2d(out, [N, C]),
        gradFunc: (dy, [qkvs, ps]) => {
          const xs = f32(qkvs)
          const d = new Float32Array(N * W)
          a.attentionRowsBackward(f32(dy), xs, xs.subarray(C), xs.subarray(2 * C), f32(ps), W, B, T, NH, HS, scale,
            d, d.subarray(C), d.subarray(2 * C))
          return [tf.tensor2d(d, [N, W])]
        },
      }
    })
    attentionQkvByKey.set(key, fn)
  }
  return fn
}

function sameShape(a: tf.Tensor, b: tf.Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])
}

// crossEntropy: saves logits, targets, lse[N]
const nativeCrossEntropy = once(() =>
  custom(([logits, targets], save) => {
    const a = addon()
    const [N, V] = dims(logits, 2, 'crossEntropy logits')
    if (targets.size !== N) throw new Error(`crossEntropy: ${targets.size} targets for ${N} rows`)
    const lse = new Float32Array(N)
    const loss = a.crossEntropyForward(f32(logits), i32(targets), N, V, lse)
    save([logits, targets, tf.tensor1d(lse)])
    return {
      value: tf.scalar(loss),
      gradFunc: (dy, [ls, ts, lses]) => {
        const dlogits = new Float32Array(N * V)
        a.crossEntropyBackward(f32(ls), i32(ts), f32(lses), N, V, f32(dy)[0], dlogits)
        return [tf.tensor2d(dlogits, [N, V]), noGrad(ts)]
      },
    }
  }),
)

// embedding: saves ids; dtable = scatter-add of dout rows
const nativeEmbedding = once(() =>
  custom(([table, ids], save) => {
    const a = addon()
    const [V, C] = dims(table, 2, 'embedding table')
    const N = ids.size
    const out = new Float32Array(N * C)
    a.embeddingForward(f32(table), i32(ids), N, C, V, out)
    save([ids])
    return {
      value: tf.tensor2d(out, [N, C]),
      gradFunc: (dy, [is]) => {
        const dtable = new Float32Array(V * C)
        a.embeddingBackward(f32(dy), i32(is), N, C, V, dtable)
        return [tf.tensor2d(dtable, [V, C]), noGrad(is)]
      },
    }
  }),
)

// Embedding for backends without UnsortedSegmentSum (wasm): tf.gather forward, scatter-add in JS backward.
const scatterGradEmbedding = once(() =>
  custom(([table, ids], save) => {
    const [V, C] = dims(table, 2, 'embedding table')
    save([ids])
    return {
      value: tf.gather(table, ids),
      gradFunc: (dy, [is]) => {
        const g = dy.dataSync() as Float32Array
        const idx = is.dataSync()
        const dtable = new Float32Array(V * C)
        for (let n = 0; n < idx.length; n++) {
          const row = idx[n] * C
          for (let c = 0; c < C; c++) dtable[row + c] += g[n * C + c]
        }
        return [tf.tensor2d(dtable, [V, C]), noGrad(is)]
      },
    }
  }),
)
