/**
 * Building the grown model's tensors from the source weights and an operator. One code path serves both uses:
 * inside a tfjs gradient tape while the operator is learned (every op is differentiable with respect to the
 * operator's arrays), and once at the end to write the grown checkpoint.
 *
 * For each grown tensor P (schema of the large model):
 *   W̄ = Σ_j c[j]·W_j           over the source blocks j, if P belongs to a block (else the source tensor itself)
 *   along each dimension d whose space grows:   X ← [T·X ; M·X]  (rows along d), then X ← N ⊙ X on in-dimensions
 * which is (N_in·B_in)·W̄·B_outᵀ for matrices, E·B_residᵀ for embeddings and B·v for vectors.
 * With an average expansion of the residual stream (SpaceOp.Min, LEMON) in-dimensions grow by [T; Min] instead and
 * norm vectors differently (gains √(d1/d2)·[T; Min], biases [T; 0]).
 * Under µP the grown config's forward multipliers differ (r = large/small: the readout's α_out/m with the new m),
 * so the tensors feeding only that multiplier are divided by r: embeddings, query projections, final norm
 * (spaces.ts `compensation`); all r = 1 (SP, or µP without a width change) leaves every tensor bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core'

import {type ModelConfig, schemaOf} from '../model/index.js'
import {type ParamSpec, type Schema, numel} from '../model/schema.js'
import type {LigoOperator} from './operator.js'
import {compensation, isFinalNorm, isInDim, multiplierRatios, normParam, spaceKey} from './spaces.js'

export type Weights = Map<string, Float32Array>

/** The source weights as constant tensors, blocks stacked per module: [L1, ...shape]. Dispose when done. */
export interface SourceTensors {
  global: Map<string, tf.Tensor>
  /** module → [L1, numel] */
  stacked: Map<string, tf.Tensor2D>
  dispose(): void
}

export function sourceTensors(small: ModelConfig, weights: Weights): SourceTensors {
  const schema = schemaOf(small)
  const global = new Map<string, tf.Tensor>()
  const stacked = new Map<string, tf.Tensor2D>()
  const L1 = small.n_layer
  // Per-layer tensor names differ by family (`h.3.…`, `model.layers.3.…`): read them off the schema.
  const byLayer = new Map(schema.filter((p) => p.layer !== null).map((p) => [`${p.layer}/${p.module}`, p.name]))
  for (const p of schema) {
    if (p.layer === null) global.set(p.name, tf.tensor(weights.get(p.name)!, p.shape, 'float32'))
    else if (p.layer === 0) {
      const n = numel(p.shape)
      const buf = new Float32Array(L1 * n)
      for (let j = 0; j < L1; j++) buf.set(weights.get(byLayer.get(`${j}/${p.module}`)!)!, j * n)
      stacked.set(p.module, tf.tensor2d(buf, [L1, n]))
    }
  }
  return {
    global,
    stacked,
    dispose() {
      for (const t of global.values()) t.dispose()
      for (const t of stacked.values()) t.dispose()
    },
  }
}

/** Operator arrays as tensors (variables of the tape while learning, constants otherwise), by learnables() name. */
export type OperatorTensors = Map<string, tf.Tensor>

/**
 * The grown tensor for schema entry P. `t` holds the operator's arrays as tensors: `width.{key}.M|T|N|Min`,
 * `depth.{key}`. Call inside tf.tidy. With an average expansion (SpaceOp.Min) of a space: in-dimensions grow by
 * [T; Min] instead of [T; M], norm gains by √(d1/d2)·[T; Min] and norm biases by [T; 0].
 */
export function growTensor(P: ParamSpec, largeSchema: Schema, op: LigoOperator, src: SourceTensors, t: OperatorTensors): tf.Tensor {
  const smallShape = P.shape.map((d, k) => op.width.get(spaceKey(P, P.spaces[k]))?.d1 ?? d)
  let x: tf.Tensor
  if (P.layer === null) {
    x = src.global.get(P.name)!
  } else {
    const c = t.get(`depth.h.${P.layer}.${P.module}`)! // [L1]
    x = tf.reshape(tf.matMul(tf.reshape(c, [1, -1]), src.stacked.get(P.module)!), smallShape)
  }
  const tiedFinal = op.large.tie_embeddings && isFinalNorm(P, largeSchema)
  for (let d = 0; d < P.shape.length; d++) {
    const key = spaceKey(P, P.spaces[d])
    const w = op.width.get(key)
    if (!w || w.d2 === w.d1) continue
    const T = t.get(`width.${key}.T`) as tf.Tensor2D | undefined
    const norm = w.Min ? normParam(P, largeSchema) : undefined
    if (norm === 'bias') {
      x = expandAxis(x, d, tf.zeros([w.d2 - w.d1, w.d1]) as tf.Tensor2D, T)
    } else {
      const rows = w.Min && (norm === 'gain' || isInDim(P, d)) ? 'Min' : 'M'
      x = expandAxis(x, d, t.get(`width.${key}.${rows}`) as tf.Tensor2D, T)
      if (norm === 'gain') x = tf.mul(x, Math.sqrt(w.d1 / w.d2))
    }
    if (isInDim(P, d) || tiedFinal) {
      const shape = x.shape.map((_, k) => (k === d ? w.d2 : 1))
      x = tf.mul(x, tf.reshape(t.get(`width.${key}.N`)!, shape))
    }
  }
  // µP: the grown config's forward multipliers differ from the source's (readout α_out/m with the new width m).
  const f = compensation(P, largeSchema, multiplierRatios(op.small, op.large), op.large.tie_embeddings)
  return f === 1 ? x : tf.mul(x, f)
}

/** Along `axis` of X (size d1): [T·X ; M·X] (size d2). */
function expandAxis(x: tf.Tensor, axis: number, M: tf.Tensor2D, T?: tf.Tensor2D): tf.Tensor {
  const rank = x.shape.length
  const d1 = x.shape[axis]
  if (axis === rank - 1 && rank > 1) {
    // Last axis: X' [r, d1] · [Tᵀ Mᵀ] contracts it in place, with no transposes (forward or backward).
    const flat = tf.reshape(x, [-1, d1]) as tf.Tensor2D
    const left = T ? tf.matMul(flat, T, false, true) : flat
    const grown = tf.concat([left, tf.matMul(flat, M, false, true)], 1) // [r, d2]
    return tf.reshape(grown, [...x.shape.slice(0, -1), d1 + M.shape[0]])
  }
  // Move `axis` first and flatten the rest: X' [d1, r].
  const perm = [axis, ...Array.from({length: rank}, (_, k) => k).filter((k) => k !== axis)]
  const moved = axis === 0 ? x : tf.transpose(x, perm)
  const flat = tf.reshape(moved, [d1, -1]) as tf.Tensor2D
  const top = T ? tf.matMul(T, flat) : flat
  const grown = tf.concat([top, tf.matMul(M, flat)], 0) // [d2, r]
  const movedShape = [grown.shape[0], ...perm.slice(1).map((k) => x.shape[k])]
  const back = tf.reshape(grown, movedShape)
  if (axis === 0) return back
  const inv = perm.map((_, k) => perm.indexOf(k))
  return tf.transpose(back, inv)
}

/** The operator's arrays as constant tensors (for materialising without a tape). Dispose when done. */
export function operatorConstants(op: LigoOperator): OperatorTensors {
  const out: OperatorTensors = new Map()
  for (const [k, s] of op.width) {
    out.set(`width.${k}.M`, tf.tensor2d(s.M, [s.d2 - s.d1, s.d1]))
    out.set(`width.${k}.N`, tf.tensor1d(s.N))
    if (s.T) out.set(`width.${k}.T`, tf.tensor2d(s.T, [s.d1, s.d1]))
    if (s.Min) out.set(`width.${k}.Min`, tf.tensor2d(s.Min, [s.d2 - s.d1, s.d1]))
  }
  for (const [k, c] of op.depth) out.set(`depth.${k}`, tf.tensor1d(c))
  return out
}

/**
 * The grown tensors one at a time, in large-schema order: `emit(P, data)` receives each tensor's values in an
 * array it owns (nothing else references it), so a caller can write it out and drop it, and the whole grown
 * model is never held. The values are growTensor's (tfjs, no tape).
 */
export function materializeEach(op: LigoOperator, smallWeights: Weights, emit: (P: ParamSpec, data: Float32Array) => void): void {
  const largeSchema = schemaOf(op.large)
  const src = sourceTensors(op.small, smallWeights)
  const consts = operatorConstants(op)
  const passthrough = new Set<tf.Tensor>(src.global.values())
  try {
    for (const P of largeSchema) {
      // Return the tensor, not its data, from tf.tidy: tidy walks a returned typed array value by value.
      const t = tf.tidy(() => growTensor(P, largeSchema, op, src, consts))
      if (passthrough.has(t)) {
        emit(P, (t.dataSync() as Float32Array).slice()) // the source's own tensor: copy it (memcpy), keep it
        continue
      }
      const data = t.dataSync() as Float32Array
      t.dispose()
      emit(P, data)
    }
  } finally {
    src.dispose()
    for (const t of consts.values()) t.dispose()
  }
}

/** All grown weights as plain arrays (materializeEach collected). */
export function materialize(op: LigoOperator, smallWeights: Weights): Weights {
  const out: Weights = new Map()
  materializeEach(op, smallWeights, (P, data) => out.set(P.name, data))
  return out
}

/**
 * FLOPs to build the grown weights once (multiply-adds × 2): the depth mixes and the two expansion products of
 * every tensor. A learning step costs about 3× this (forward + backward) on top of the grown model's own step.
 */
export function materializeFlops(op: LigoOperator): number {
  const largeSchema = schemaOf(op.large)
  let flops = 0
  for (const P of largeSchema) {
    const shape = P.shape.map((d, k) => op.width.get(spaceKey(P, P.spaces[k]))?.d1 ?? d)
    if (P.layer !== null) flops += 2 * op.small.n_layer * numel(shape)
    for (let d = 0; d < P.shape.length; d++) {
      const w = op.width.get(spaceKey(P, P.spaces[d]))
      if (!w || w.d2 === w.d1) continue
      const rest = numel(shape) / shape[d]
      flops += 2 * (w.d2 - w.d1) * w.d1 * rest + (w.T ? 2 * w.d1 * w.d1 * rest : 0)
      shape[d] = w.d2
    }
  }
  return flops
}
