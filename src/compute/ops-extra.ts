/**
 * Reference ops the Llama and BERT families need beyond ops.ts: RMSNorm, rotary position embeddings, SiLU/SwiGLU,
 * bidirectional attention, grouped-query head repetition and the exact (erf) GELU. All are written with plain
 * tfjs ops, so autodiff gives their gradients (tfjs-core's gradient functions are registered by ./gradients.js);
 * they run on every backend, the native one included (it falls back to tfjs kernels for ops it lacks).
 *
 * Shape letters: B batch, T time, C channels, NH heads, NKV key/value heads, HS head size, N = B·T rows.
 */
import * as tf from '@tensorflow/tfjs-core'
import './gradients.js'

/** RMSNorm over the last axis (Zhang & Sennrich 2019; HF LlamaRMSNorm): x / √(mean(x²) + eps) · g.  x[N,C], g[C]. */
export function rmsNorm(x: tf.Tensor2D, g: tf.Tensor1D, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), -1, true) // [N,1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), g) as tf.Tensor2D
}

/**
 * The cos and sin tables of rotary embeddings for positions 0..T-1, in HF's layout: for frequency
 * θ_i = theta^(-2i/HS), i < HS/2, row t is [t·θ_0 … t·θ_{HS/2-1}, t·θ_0 … t·θ_{HS/2-1}] → cos/sin [T,HS].
 * Computed in float64, then rounded once to float32.
 */
export function ropeTables(T: number, HS: number, theta: number): {cos: tf.Tensor2D; sin: tf.Tensor2D} {
  if (HS % 2 !== 0) throw new RangeError(`rotary embeddings need an even head size, got ${HS}`)
  const half = HS / 2
  const cos = new Float32Array(T * HS)
  const sin = new Float32Array(T * HS)
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = t * Math.pow(theta, (-2 * i) / HS)
      cos[t * HS + i] = cos[t * HS + half + i] = Math.cos(a)
      sin[t * HS + i] = sin[t * HS + half + i] = Math.sin(a)
    }
  }
  return {cos: tf.tensor2d(cos, [T, HS]), sin: tf.tensor2d(sin, [T, HS])}
}

/**
 * Rotary position embedding (Su et al. 2021) in HF's rotate_half convention: x·cos + rotate_half(x)·sin with
 * rotate_half([x1, x2]) = [-x2, x1], x1 and x2 the first and second halves of each head.  x[B,H,T,HS], cos/sin [T,HS].
 */
export function rotary(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const half = x.shape[3] / 2
  const [x1, x2] = tf.split(x, [half, half], 3)
  const rotated = tf.concat([tf.neg(x2), x1], 3)
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D
}

/** SiLU (swish): x·σ(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x)) as T
}

/** The SwiGLU gate of Llama's MLP (Shazeer 2020): silu(gate) ⊙ up. */
export function swiglu<T extends tf.Tensor>(gate: T, up: T): T {
  return tf.mul(silu(gate), up) as T
}

/** Exact GELU, BERT's `gelu`: 0.5·x·(1 + erf(x/√2)). */
export function geluErf<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T
}

/** Bidirectional (unmasked) self-attention: softmax(q·kᵀ·scale)·v.  q, k, v [B,NH,T,HS] → [B,NH,T,HS]. */
export function bidirectionalAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const att = tf.mul(tf.matMul(q, k, false, true), scale) // [B,NH,T,T]
  return tf.matMul(tf.softmax(att), v) as tf.Tensor4D
}

/**
 * Grouped-query attention's head sharing (HF repeat_kv): key/value head j serves query heads j·n … j·n+n-1.
 * x[B,NKV,T,HS] → [B,NKV·n,T,HS].
 */
export function repeatKv(x: tf.Tensor4D, n: number): tf.Tensor4D {
  if (n === 1) return x
  const [B, NKV, T, HS] = x.shape
  // tile's gradient handles rank ≤ 4: fold T and HS together.
  const tiled = tf.tile(tf.reshape(x, [B, NKV, 1, T * HS]), [1, 1, n, 1]) // [B,NKV,n,T·HS]
  return tf.reshape(tiled, [B, NKV * n, T, HS]) as tf.Tensor4D
}
