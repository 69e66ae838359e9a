/**
 * Masked Structural Growth (Yao et al., ICLR 2024; official code cofe-ai/MSG for BERT, tongxuluo/prts
 * `scaling/msg.py` for Llama): the forward pass of a model whose grown parts still enter through masks.
 *
 * A model grown by `ligo grow --method msg` carries `msg` in its config: the source's sizes and the ramp. Every
 * coordinate, head, FFN unit and block beyond the source's is multiplied by one mask value m = step/grow_steps,
 * which `ligo train` raises by 1/grow_steps per update (src/train/trainer.ts) until it reaches 1, when the field
 * is dropped and the model is a plain one. At m = 0 the grown model computes the source's function exactly,
 * whatever its new weights are:
 * - outputs: every tensor whose last dimension lies in a grown space (embeddings, linear weights and biases,
 *   norm gains and biases) has its new output coordinates multiplied by m. Masking a linear layer's output is
 *   masking the columns of its weight (y = x·(W ⊙ m) + b ⊙ m), so the masks are applied to the weights here, once
 *   per forward; the gradient of a masked weight is m times the gradient of the effective one, as in MSG.
 *   New residual coordinates are thus m·(their value), new heads read q = k = v = 0 (uniform attention over
 *   zeros), new FFN units output GELU(0) = 0 (SwiGLU: silu(0)·0 = 0). The readout is not masked (prts skips
 *   lm_head), tied or not: a tied readout reads the unmasked embedding matrix (only the lookup is masked).
 * - norms: LayerNorm and RMSNorm statistics are taken over the residual stream weighted by its mask r (1 on the
 *   source's coordinates, m on the new ones): mean Σr·x/Σr and variance Σr·(x − mean)²/Σr (cofe-ai's
 *   LayerNormEx; for RMSNorm the mean square Σr·x²/Σr), so the source's coordinates are normalised exactly as
 *   in the source at m = 0.
 * - blocks: a grown block's output is m·block(x) + (1 − m)·x (prts MsgBlock), the identity at m = 0.
 * All masks ramp together (prts ramps FFN, then width, then heads, in consecutive windows; this is one window).
 * At m = 1 every rule is the plain forward (weights × 1, weights 1 in the statistics, 1·block(x) + 0·x).
 */
import * as tf from '@tensorflow/tfjs-core'

import {customOp} from '../compute/chunked.js'
import {Fields} from '../validate.js'
import type {Schema, Space} from './schema.js'

/** The MSG state a grown config carries while its masks ramp (config key `msg`). */
export interface MsgState {
  /** Updates over which the masks ramp from 0 to 1. */
  grow_steps: number
  /** Updates made so far: the masks are at step / grow_steps. */
  step: number
  /** The source's sizes: coordinates, heads, FFN units and blocks beyond these are the masked, grown ones. */
  from: MsgFrom
}

export interface MsgFrom {
  n_layer: number
  d_model: number
  n_head: number
  n_kv_head: number
  d_ffn: number
}

/** The sizes a config's MSG state is checked against. */
interface Sizes {
  n_layer: number
  d_model: number
  n_head: number
  n_kv_head?: number
  head_size: number
  d_ffn: number
}

/** Reads and checks `msg` of a family config (undefined when absent). */
export function readMsg(f: Fields, c: Sizes): MsgState | undefined {
  if (!f.has('msg')) return undefined
  const m = Fields.of(f.obj.msg, f.key('msg'), f.source)
  m.rejectUnknown(['grow_steps', 'step', 'from'])
  const grow_steps = m.int('grow_steps', undefined, {min: 1})
  const step = m.int('step', 0, {min: 0, max: grow_steps - 1})
  const fr = Fields.of(m.obj.from, m.key('from'), m.source)
  fr.rejectUnknown(['n_layer', 'd_model', 'n_head', 'n_kv_head', 'd_ffn'])
  const kv = c.n_kv_head ?? c.n_head
  const from: MsgFrom = {
    n_layer: fr.int('n_layer', undefined, {min: 1, max: c.n_layer}),
    d_model: fr.int('d_model', undefined, {min: 1, max: c.d_model}),
    n_head: fr.int('n_head', undefined, {min: 1, max: c.n_head}),
    n_kv_head: fr.int('n_kv_head', kv, {min: 1, max: kv}),
    d_ffn: fr.int('d_ffn', undefined, {min: 1, max: c.d_ffn}),
  }
  return {grow_steps, step, from}
}

/** The mask value m of a state: step / grow_steps. */
export function msgValue(s: MsgState): number {
  return Math.min(1, s.step / s.grow_steps)
}

/** The config after one more update: the ramp advanced, or the `msg` field dropped once the masks reach 1. */
export function msgAdvance<C extends object>(c: C): C {
  const msg = (c as {msg?: MsgState}).msg
  if (!msg) return c
  const step = msg.step + 1
  if (step >= msg.grow_steps) {
    const {msg: _done, ...plain} = c as C & {msg?: MsgState}
    return plain as C
  }
  return {...c, msg: {...msg, step}}
}

/** What a forward pass needs of the masks. */
export interface MsgForward {
  /** The weights with their grown output coordinates masked. */
  params: Map<string, tf.Tensor>
  /** The residual stream's mask [C] for the norms' weighted statistics; undefined when the width did not grow. */
  resid?: tf.Tensor1D
  /** Σ resid. */
  residSum: number
  /** The block mask of block l: m for a grown block, undefined for a source block. */
  block(l: number): number | undefined
}

/**
 * The masks of a config at its current step, applied to the weights `p` (call inside tf.tidy); undefined when
 * the config carries no MSG state.
 */
export function msgForward(c: Sizes & {msg?: MsgState}, schema: Schema, p: Map<string, tf.Tensor>): MsgForward | undefined {
  if (!c.msg) return undefined
  const m = msgValue(c.msg)
  const fr = c.msg.from
  const kv = c.n_kv_head ?? c.n_head
  const sizes: Partial<Record<Space, [old: number, now: number]>> = {
    resid: [fr.d_model, c.d_model],
    q: [fr.n_head * c.head_size, c.n_head * c.head_size],
    k: [fr.n_kv_head * c.head_size, kv * c.head_size],
    v: [fr.n_kv_head * c.head_size, kv * c.head_size],
    ffn: [fr.d_ffn, c.d_ffn],
  }
  const masks = new Map<Space, tf.Tensor1D>()
  const maskOf = (s: Space): tf.Tensor1D | undefined => {
    const d = sizes[s]
    if (!d || d[0] === d[1]) return undefined
    let t = masks.get(s)
    if (!t) {
      const a = new Float32Array(d[1]).fill(m)
      a.fill(1, 0, d[0])
      t = tf.tensor1d(a)
      masks.set(s, t)
    }
    return t
  }
  const params = new Map(p)
  for (const P of schema) {
    if (P.role === 'readout') continue
    const mask = maskOf(P.spaces[P.spaces.length - 1])
    if (mask) params.set(P.name, tf.mul(p.get(P.name)!, mask))
  }
  const resid = maskOf('resid')
  return {
    params,
    resid,
    residSum: fr.d_model + m * (c.d_model - fr.d_model),
    block: (l) => (l >= fr.n_layer ? m : undefined),
  }
}

/**
 * LayerNorm of x [N,C] with statistics weighted by r [C] (Σr = rSum): cofe-ai MSG's LayerNormEx. With x̂ = (x − μ)·s,
 * μ = x·r/R, s = (Σr(x − μ)²/R + ε)^−½ and a = dy ⊙ g, the backward is dx = s ⊙ (a − (r/R) ⊙ (Σa + x̂·Σa⊙x̂)) (row
 * sums), dg = Σ_rows dy ⊙ x̂, db = Σ_rows dy; every reduction is a product with a ones vector, so it runs on the
 * native GEMM (tfjs' own Sum over rows is ~100× slower on the cpu kernels). weightedLayerNormReference is the
 * same forward differentiated by tfjs (test/model/msg.test.ts checks the two agree).
 */
export function weightedLayerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number, r: tf.Tensor1D, rSum: number): tf.Tensor2D {
  const [N, C] = x.shape
  const op = customOp(([x, g, b], save) => {
    const rc = tf.reshape(r, [C, 1]) as tf.Tensor2D
    const d = tf.sub(x, tf.div(tf.matMul(x as tf.Tensor2D, rc), rSum))
    const s = tf.rsqrt(tf.add(tf.div(tf.matMul(tf.square(d) as tf.Tensor2D, rc), rSum), eps)) // [N,1]
    const xhat = tf.mul(d, s)
    save([xhat, s, g, r]) // the backward runs after the forward's scope: what it reads must be saved
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, [xhat, s, g, r]) => {
        const ones = tf.ones([C, 1])
        const a = tf.mul(dy, g)
        const inner = tf.add(tf.matMul(a as tf.Tensor2D, ones), tf.mul(xhat, tf.matMul(tf.mul(a, xhat) as tf.Tensor2D, ones))) // [N,C]
        const dx = tf.mul(s, tf.sub(a, tf.mul(inner, tf.div(r, rSum))))
        const rowsOnes = tf.ones([1, N])
        const dg = tf.reshape(tf.matMul(rowsOnes, tf.mul(dy, xhat) as tf.Tensor2D), [C])
        const db = tf.reshape(tf.matMul(rowsOnes, dy as tf.Tensor2D), [C])
        return [dx, dg, db]
      },
    }
  })
  return op(x, g, b) as tf.Tensor2D
}

/** RMSNorm of x [N,C] with the mean square weighted by r [C] (Σr = rSum); backward dx = s ⊙ (a − (r/R) ⊙ x̂·Σa⊙x̂) as above. */
export function weightedRmsNorm(x: tf.Tensor2D, g: tf.Tensor1D, eps: number, r: tf.Tensor1D, rSum: number): tf.Tensor2D {
  const [N, C] = x.shape
  const op = customOp(([x, g], save) => {
    const s = tf.rsqrt(tf.add(tf.div(tf.matMul(tf.square(x) as tf.Tensor2D, tf.reshape(r, [C, 1]) as tf.Tensor2D), rSum), eps)) // [N,1]
    const xhat = tf.mul(x, s)
    save([xhat, s, g, r])
    return {
      value: tf.mul(xhat, g),
      gradFunc: (dy, [xhat, s, g, r]) => {
        const a = tf.mul(dy, g)
        const dx = tf.mul(s, tf.sub(a, tf.mul(tf.mul(xhat, tf.matMul(tf.mul(a, xhat) as tf.Tensor2D, tf.ones([C, 1]))), tf.div(r, rSum))))
        const dg = tf.reshape(tf.matMul(tf.ones([1, N]), tf.mul(dy, xhat) as tf.Tensor2D), [C])
        return [dx, dg]
      },
    }
  })
  return op(x, g) as tf.Tensor2D
}

/** weightedLayerNorm differentiated by tfjs (the reference of its hand-written backward). */
export function weightedLayerNormReference(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number, r: tf.Tensor1D, rSum: number): tf.Tensor2D {
  const w = tf.reshape(r, [-1, 1]) as tf.Tensor2D
  const mean = tf.div(tf.matMul(x, w), rSum) // [N,1]
  const d = tf.sub(x, mean)
  const variance = tf.div(tf.matMul(tf.square(d), w), rSum)
  return tf.add(tf.mul(tf.mul(d, tf.rsqrt(tf.add(variance, eps))), g), b) as tf.Tensor2D
}

/** weightedRmsNorm differentiated by tfjs. */
export function weightedRmsNormReference(x: tf.Tensor2D, g: tf.Tensor1D, eps: number, r: tf.Tensor1D, rSum: number): tf.Tensor2D {
  const ms = tf.div(tf.matMul(tf.square(x), tf.reshape(r, [-1, 1]) as tf.Tensor2D), rSum) // [N,1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), g) as tf.Tensor2D
}

/** A grown block's output while its mask ramps: m·y + (1 − m)·x. */
export function blendBlock(y: tf.Tensor2D, x: tf.Tensor2D, m: number): tf.Tensor2D {
  return tf.add(tf.mul(y, m), tf.mul(x, 1 - m)) as tf.Tensor2D
}
