/**
 * Which growths keep the source model's function, and by how much the others miss it.
 *
 * net2net and zero (and stack / interleave when they add no blocks) are meant to compute the source's function.
 * By construction (src/ligo/operator.ts) they do so exactly in pre-norm models (gpt2, llama) at every width: at a
 * multiple of the old residual width by copies with split outgoing weights, at any other width by LEMON's average
 * expansion (average or zero rows for the residual stream, norm gains × √(d1/d2), norm ε × d1/d2), with new heads
 * and FFN units copied with split outgoing weights, and new blocks whose output projections are zero.
 * In post-norm BERT neither holds in general: LN(x + 0) ≠ x, so a new block is not the identity, and the residual
 * stream between blocks is a LayerNorm's output, whose new coordinates would have to be the mean of the old ones
 * (average expansion) yet come out of the norm as constants. There the grown model's logits are compared with the
 * source's (`logitDiff`) and the difference reported instead.
 */
import * as tf from '@tensorflow/tfjs-core'

import {evalBatches} from '../data/batches.js'
import type {DataDir} from '../data/prepare.js'
import {Rng} from '../data/rng.js'
import {type ModelConfig, forward, schemaOf} from '../model/index.js'
import type {Weights} from './materialize.js'

export interface FunctionCheck {
  /** Whether the grown model computes the source's function exactly by construction (up to float rounding). */
  exact: boolean
  /** How (exact) or why not. */
  reason: string
  /** Not exact: max |logit_grown − logit_source| over the checked tokens, and max |logit_source| for scale. */
  max_abs_logit_diff?: number
  max_abs_source_logit?: number
  tokens?: number
}

/** Whether `method` is meant to keep the function at this growth, and whether it does exactly; undefined: not meant to. */
export function exactness(method: string, small: ModelConfig, large: ModelConfig): Pick<FunctionCheck, 'exact' | 'reason'> | undefined {
  const deeper = large.n_layer > small.n_layer
  if (!(method === 'net2net' || method === 'zero' || ((method === 'stack' || method === 'interleave') && !deeper))) return undefined
  const multiple = large.d_model % small.d_model === 0
  const width = large.d_model === small.d_model ? 'width unchanged' : multiple
    ? `width ${small.d_model} → ${large.d_model} by copies with split outgoing weights`
    : `width ${small.d_model} → ${large.d_model} by LEMON's average expansion (norm gains × √(d1/d2), norm ε × d1/d2)`
  const groups = (c: ModelConfig) => c.n_head / ((c as {n_kv_head?: number}).n_kv_head ?? c.n_head)
  const kvHeads = (small as {n_kv_head?: number}).n_kv_head ?? small.n_head
  if (kvHeads > 1 && groups(small) !== groups(large))
    return {exact: false, reason: `the query heads are regrouped (${groups(small)} → ${groups(large)} per key/value head), so copied heads do not all attend with copies of their own key/value heads`}
  if (small.family === 'bert') {
    if (deeper)
      return {exact: false, reason: `BERT is post-LayerNorm: the ${large.n_layer - small.n_layer} new block(s) of --method ${method} are not identities, so the grown model does not compute the source's function (width growth alone does, at a multiple of the width)`}
    if (!multiple)
      return {exact: false, reason: `BERT is post-LayerNorm: growing the width ${small.d_model} → ${large.d_model} (not a multiple) by average expansion keeps LayerNorm's statistics only in pre-LN models, so the grown model does not compute the source's function exactly`}
  }
  return {exact: true, reason: `${width}${deeper ? '; new blocks with zero output projections (pre-norm: identities)' : ''}`}
}

/** A few short batches of token ids for `logitDiff`: the start of the validation split, or seeded random ids. */
export function checkBatches(small: ModelConfig, large: ModelConfig, data: DataDir | undefined, seed: number): {ids: Int32Array; B: number; T: number}[] {
  const T = Math.min(32, small.n_positions, large.n_positions)
  const B = 2
  if (data && data.val.length > B * T + 1) return [...evalBatches(data.val, {batch: B, seq: T, maxBatches: 2})].map((b) => ({ids: b.inputs, B: b.batch, T}))
  const rng = new Rng(seed)
  return [0, 1].map(() => ({ids: Int32Array.from({length: B * T}, () => rng.int(small.vocab_size)), B, T}))
}

/** Max |logit difference| between the grown model and the source on `batches` (forward passes only). */
export function logitDiff(
  small: ModelConfig,
  smallWeights: Weights,
  large: ModelConfig,
  largeWeights: Weights,
  batches: {ids: Int32Array; B: number; T: number}[],
): Required<Pick<FunctionCheck, 'max_abs_logit_diff' | 'max_abs_source_logit' | 'tokens'>> {
  const params = (c: ModelConfig, w: Weights) => new Map(schemaOf(c).map((p) => [p.name, tf.tensor(w.get(p.name)!, p.shape, 'float32')]))
  const ps = params(small, smallWeights)
  const pl = params(large, largeWeights)
  try {
    let diff = 0
    let scale = 0
    let tokens = 0
    for (const b of batches) {
      const [d, m] = tf.tidy(() => {
        const a = forward(small, ps, b.ids, b.B, b.T)
        const g = forward(large, pl, b.ids, b.B, b.T)
        return [tf.max(tf.abs(tf.sub(g, a))).dataSync()[0], tf.max(tf.abs(a)).dataSync()[0]]
      })
      diff = Math.max(diff, d)
      scale = Math.max(scale, m)
      tokens += b.B * b.T
    }
    return {max_abs_logit_diff: diff, max_abs_source_logit: scale, tokens}
  } finally {
    for (const t of [...ps.values(), ...pl.values()]) t.dispose()
  }
}
