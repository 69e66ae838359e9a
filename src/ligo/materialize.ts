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
 *
 * Two engines compute this. `growTensor` builds it from tfjs ops: differentiable (the reference the tests hold
 * the others to) and the fallback where the native addon is absent. The native engine (native/ligo_grow.cc)
 * computes each tensor, viewed as a matrix [r, c], with SGEMMs on its blocks and no tape: `materializeEach`
 * streams the grown tensors, `materializeInto` refills existing arrays, and `materializeBackward` turns dL/dW of
 * the grown tensors into the operator's gradients by closed forms (dL/dc, dL/dM, dL/dT), accumulated over every
 * tensor that shares a width space. It does the same float operations as growTensor on the native backend, so
 * the grown tensors are identical bit for bit (fixed maps, being selections and scales, are exact on either).
 */
import * as tf from '@tensorflow/tfjs-core'

import {nativeAddon} from '../compute/native.js'
import {type ModelConfig, schemaOf} from '../model/index.js'
import {type ParamSpec, type Schema, numel} from '../model/schema.js'
import type {LigoOperator, SpaceOp} from './operator.js'
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

/** Which engine builds the grown tensors: 'native' (the addon, tape-free) or 'tfjs' (growTensor; the fallback). */
export type GrowEngine = 'native' | 'tfjs'

export interface EngineOptions {
  /** Default: 'native' when the addon is loaded, else 'tfjs'. */
  engine?: GrowEngine
}

/** Whether the operator has an average expansion (SpaceOp.Min, LEMON's fixed map at a non-multiple width). */
const averages = (op: LigoOperator) => [...op.width.values()].some((s) => s.Min)

/** The native engine when the addon is loaded and the operator has no average expansion (never learned, so the tfjs
 * engine's cost is a one-off); else tfjs. */
export function defaultEngine(op?: LigoOperator): GrowEngine {
  if (op && averages(op)) return 'tfjs'
  return nativeAddon() ? 'native' : 'tfjs'
}

function engineOf(op: LigoOperator, o: EngineOptions): GrowEngine {
  const e = o.engine ?? defaultEngine(op)
  if (e === 'native' && averages(op)) throw new Error('materialize: the native engine has no average expansion (width.resid.Min); use the tfjs engine')
  return e
}

/**
 * How grown tensor P is made, as a matrix: source [r1, c1] → grown [r2, c2] (a vector is [r, 1]; rows are
 * dimension 0, columns dimension 1). Operator arrays are named as in `learnables()`.
 */
export interface GrowPlan {
  P: ParamSpec
  /** The L1 source blocks' tensors (depth-mixed by `depth.{depthKey}`), or the one global tensor. */
  sources: Float32Array[]
  depthKey: string | null
  r1: number
  c1: number
  r2: number
  c2: number
  /** Width key of the rows' (columns') expansion when that dimension grows, else null. */
  rowKey: string | null
  colKey: string | null
  /** Rows are an in-dimension (or the tied final norm): scaled by N after expanding. */
  rowScaled: boolean
  /** µP compensation factor (1 under SP). */
  f: number
}

/** The plan of every tensor of the large schema, in schema order. */
export function growPlans(op: LigoOperator, smallWeights: Weights, largeSchema: Schema = schemaOf(op.large)): GrowPlan[] {
  const smallSchema = schemaOf(op.small)
  // Per-layer tensor names differ by family (`h.3.…`, `model.layers.3.…`): read them off the schema.
  const byLayer = new Map(smallSchema.filter((p) => p.layer !== null).map((p) => [`${p.layer}/${p.module}`, p.name]))
  const weight = (name: string) => {
    const w = smallWeights.get(name)
    if (!w) throw new Error(`materialize: the source weights have no tensor '${name}'`)
    return w
  }
  const r = multiplierRatios(op.small, op.large)
  return largeSchema.map((P) => {
    if (P.shape.length > 2) throw new Error(`materialize: ${P.name} has rank ${P.shape.length}; tensors of rank ≤ 2 are supported`)
    const dims = P.shape.map((d, k) => {
      const key = spaceKey(P, P.spaces[k])
      const w = op.width.get(key)
      return w && w.d2 > w.d1 ? {key, d1: w.d1, d2: w.d2} : {key: null, d1: d, d2: d}
    })
    const [rows, cols = {key: null, d1: 1, d2: 1}] = dims
    const sources = P.layer === null ? [weight(P.name)] : Array.from({length: op.small.n_layer}, (_, j) => weight(byLayer.get(`${j}/${P.module}`)!))
    const tiedFinal = op.large.tie_embeddings && isFinalNorm(P, largeSchema)
    return {
      P, sources, depthKey: P.layer === null ? null : `h.${P.layer}.${P.module}`,
      r1: rows.d1, c1: cols.d1, r2: rows.d2, c2: cols.d2, rowKey: rows.key, colKey: cols.key,
      rowScaled: rows.key !== null && (isInDim(P, 0) || tiedFinal),
      f: compensation(P, largeSchema, r, op.large.tie_embeddings),
    }
  })
}

/** The grown tensor of `plan` into `out` [r2·c2] on the native addon. */
function growNative(op: LigoOperator, plan: GrowPlan, out: Float32Array): void {
  const addon = nativeAddon()
  if (!addon) throw new Error('materialize: the native engine needs the native addon')
  const row = plan.rowKey === null ? undefined : op.width.get(plan.rowKey)!
  const col = plan.colKey === null ? undefined : op.width.get(plan.colKey)!
  const c = plan.depthKey === null ? null : op.depth.get(plan.depthKey)!
  addon.ligoGrowForward(plan.sources, c, plan.r1, plan.c1, plan.r2, plan.c2, row?.M ?? null, row?.T ?? null,
    plan.rowScaled ? row!.N : null, col?.M ?? null, col?.T ?? null, plan.f, out)
}

/**
 * Streams the grown tensors in large-schema order: `emit(P, data)` receives each one as a fresh array it owns.
 * Tape-free on either engine; the tfjs engine holds the source stacked per module while it runs.
 */
export function materializeEach(op: LigoOperator, smallWeights: Weights, emit: (P: ParamSpec, data: Float32Array) => void,
  o: EngineOptions = {}): void {
  const largeSchema = schemaOf(op.large)
  if (engineOf(op, o) === 'native') {
    for (const plan of growPlans(op, smallWeights, largeSchema)) {
      const out = new Float32Array(plan.r2 * plan.c2)
      growNative(op, plan, out)
      emit(plan.P, out)
    }
    return
  }
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

/** All grown weights as plain arrays. */
export function materialize(op: LigoOperator, smallWeights: Weights, o: EngineOptions = {}): Weights {
  const out: Weights = new Map()
  materializeEach(op, smallWeights, (P, data) => out.set(P.name, data), o)
  return out
}

/** The grown weights written into the arrays of `into` (one per large-schema tensor, reused across calls). */
export function materializeInto(op: LigoOperator, smallWeights: Weights, into: Weights, o: EngineOptions = {}): void {
  const largeSchema = schemaOf(op.large)
  const target = (P: ParamSpec) => {
    const a = into.get(P.name)
    if (!a || a.length !== numel(P.shape)) throw new Error(`materializeInto: no array of ${numel(P.shape)} values for ${P.name}`)
    return a
  }
  if (engineOf(op, o) === 'native') {
    for (const plan of growPlans(op, smallWeights, largeSchema)) growNative(op, plan, target(plan.P))
    return
  }
  materializeEach(op, smallWeights, (P, data) => target(P).set(data), o)
}

/**
 * The operator's gradients from the grown tensors' gradients: for every array named in `into` (learnables()
 * names: `width.{key}.M`, `width.{key}.T`, `depth.{key}`), dL/d(array) is ADDED into it, summed over every grown
 * tensor that reads it, from `grads` (dL/dW by large-schema name; a tensor without a gradient contributes
 * nothing). Arrays not named in `into` are held fixed. Native: the closed forms of native/ligo_grow.cc, tensor by
 * tensor; tfjs: a vector–Jacobian product through growTensor, tensor by tensor (its tape holds one tensor).
 */
export function materializeBackward(op: LigoOperator, smallWeights: Weights, grads: Weights, into: Map<string, Float32Array>,
  o: EngineOptions = {}): void {
  const largeSchema = schemaOf(op.large)
  const plans = growPlans(op, smallWeights, largeSchema).filter((p) => grads.has(p.P.name))
  const want = (name: string, space?: SpaceOp, what?: 'M' | 'T') => {
    const a = into.get(name)
    if (!a) return null
    const n = what === 'T' ? space!.d1 * space!.d1 : what === 'M' ? space!.M.length : op.small.n_layer
    if (a.length !== n) throw new Error(`materializeBackward: '${name}' has ${a.length} values, expected ${n}`)
    return a
  }
  if (engineOf(op, o) === 'native') {
    const addon = nativeAddon()
    if (!addon) throw new Error('materializeBackward: the native engine needs the native addon')
    for (const plan of plans) {
      const G = grads.get(plan.P.name)!
      if (G.length !== plan.r2 * plan.c2) throw new Error(`materializeBackward: the gradient of ${plan.P.name} has ${G.length} values, expected ${plan.r2 * plan.c2}`)
      const row = plan.rowKey === null ? undefined : op.width.get(plan.rowKey)!
      const col = plan.colKey === null ? undefined : op.width.get(plan.colKey)!
      const dc = plan.depthKey === null ? null : want(`depth.${plan.depthKey}`)
      const dRowM = row ? want(`width.${plan.rowKey}.M`, row, 'M') : null
      const dRowT = row?.T ? want(`width.${plan.rowKey}.T`, row, 'T') : null
      const dColM = col ? want(`width.${plan.colKey}.M`, col, 'M') : null
      const dColT = col?.T ? want(`width.${plan.colKey}.T`, col, 'T') : null
      if (!dc && !dRowM && !dRowT && !dColM && !dColT) continue
      addon.ligoGrowBackward(plan.sources, plan.depthKey === null ? null : op.depth.get(plan.depthKey)!, plan.r1, plan.c1,
        plan.r2, plan.c2, row?.M ?? null, row?.T ?? null, plan.rowScaled ? row!.N : null, col?.M ?? null, col?.T ?? null,
        plan.f, G, dc, dRowM, dRowT, dColM, dColT)
    }
    return
  }
  const src = sourceTensors(op.small, smallWeights)
  const consts = operatorConstants(op)
  try {
    for (const plan of plans) {
      const P = plan.P
      // The arrays this tensor reads that are wanted: its depth vector, its rows' and columns' M (and T).
      const names: string[] = []
      if (plan.depthKey !== null && want(`depth.${plan.depthKey}`)) names.push(`depth.${plan.depthKey}`)
      for (const key of [plan.rowKey, plan.colKey]) {
        if (key === null) continue
        const s = op.width.get(key)!
        for (const what of s.T ? (['M', 'T'] as const) : (['M'] as const)) {
          const n = `width.${key}.${what}`
          if (want(n, s, what) && !names.includes(n)) names.push(n)
        }
      }
      if (names.length === 0) continue
      tf.tidy(() => {
        const f = (...ts: tf.Tensor[]) => growTensor(P, largeSchema, op, src, new Map([...consts, ...names.map((n, i) => [n, ts[i]] as const)]))
        const dy = tf.tensor(grads.get(P.name)!, P.shape, 'float32')
        const gs = tf.grads(f)(names.map((n) => consts.get(n)!), dy)
        names.forEach((n, i) => {
          const acc = into.get(n)!
          const g = gs[i].dataSync() as Float32Array
          for (let k = 0; k < acc.length; k++) acc[k] += g[k] // operator-sized (small) arrays
        })
      })
    }
  } finally {
    src.dispose()
    for (const t of consts.values()) t.dispose()
  }
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
