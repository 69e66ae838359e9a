/**
 * The LiGO growth operator (Wang et al., ICLR 2023), in the factored form of the official code:
 *
 *   W_large = (N_in · B_in) · W̄ · B_outᵀ,   W̄ = Σ_j c[j] · W_small,j   (depth mix at small width, then width)
 *
 * - Width: one expansion B_s = [T; M] ∈ R^{d2×d1} per space instance: the residual stream once (shared by every
 *   tensor, so embeddings, norms, attention and FFN stay consistent), and per grown block one each for the
 *   query, key and value head spaces (new heads are combinations of all old heads; head size is kept) and the
 *   FFN hidden space. T is the identity (old coordinates kept exactly, only the new rows M are learned) or, with
 *   `fullWidth`, learned too. Never a dense map: a tensor's expansion is two small matrix products.
 * - In-dimensions are additionally scaled by a fixed vector N (1 for LiGO's tied operator; 1/multiplicity-style
 *   splits for the function-preserving Net2Net initialisation, where copies share the outgoing weight).
 * - Depth: for every grown block i and every tensor of a block, a vector c ∈ R^{L1} mixing the source blocks'
 *   tensors (weights and biases have their own vectors, as in the official code).
 * Special cases: stacking (c one-hot at i mod L1), interpolation (one-hot at ⌊i·L1/L2⌋), Net2Net (selection M).
 */
import {Rng} from '../data/rng.js'
import {InputError} from '../errors.js'
import type {ModelConfig} from '../model/index.js'
import {type Schema, type Space} from '../model/schema.js'
import {PER_LAYER_SPACES, centredNorms, normEps, spaceSize, withNormEps, writesResidual} from './spaces.js'

/** ligo.json's `version`: 2 added the average expansion (width.resid.Min); version-1 files read unchanged. */
export const OPERATOR_VERSION = 2

export const WIDTH_INITS = ['auto', 'rand', 'select', 'fp'] as const
export type WidthInit = (typeof WIDTH_INITS)[number]
export const DEPTH_INITS = ['stack', 'interleave', 'fp'] as const
export type DepthInit = (typeof DEPTH_INITS)[number]

export interface SpaceOp {
  space: Space
  d1: number
  d2: number
  /** New rows, (d2 − d1) × d1, row-major. */
  M: Float32Array
  /** Top block d1 × d1 when the whole expansion is learnable (init I); absent means the fixed identity. */
  T?: Float32Array
  /** In-dimension scaling, length d2 (fixed, not learned). */
  N: Float32Array
  /**
   * The norm-preserving ("average") expansion of LEMON (Wang et al., ICLR 2024) for function-preserving growth
   * of the residual stream to a width that is not a multiple of the old; present only then (only on `resid`).
   * M then holds average rows (1/d1: every new coordinate is the mean of the old ones; LayerNorm's mean is kept
   * and its variance scaled by d1/d2) or zero rows (RMSNorm: the mean square is scaled by d1/d2), and
   * - in-dimensions (readers) take their new rows from Min instead of M: W' = N ⊙ [W; Min·W],
   * - norm gains become √(d1/d2)·[γ; Min·γ] and norm biases [β; 0],
   * - the grown config's norm ε is the source's × d1/d2 (set in `large` by initOperator),
   * so every norm's output equals the source's on the old coordinates and is 0 on the new ones: exact for
   * pre-norm models. Min is a selection (new coordinate r reads like old coordinate r mod d1): the readers' new
   * rows multiply zeros, so they keep the function whatever they are, and being distinct they break the symmetry
   * of the (identical) new coordinates once training moves them. Fixed, never learned.
   */
  Min?: Float32Array
}

export interface LigoOperator {
  small: ModelConfig
  large: ModelConfig
  /** 'resid', 'h.{i}.q', 'h.{i}.k', 'h.{i}.v', 'h.{i}.ffn' (i: grown block). */
  width: Map<string, SpaceOp>
  /** 'h.{i}.{module}' → mixing coefficients over the L1 source blocks. */
  depth: Map<string, Float32Array>
}

export interface OperatorInit {
  /**
   * auto: fp when the new residual width is a multiple of the old, else rand. fp at other widths: LEMON's average
   * expansion of the residual stream (SpaceOp.Min), exact for pre-norm models too.
   */
  width: WidthInit
  depth: DepthInit
  /** Noise added to the depth coefficients of stack/interleave (official: U(0, 0.03), renormalised). */
  depthNoise: number
  /** Learn the identity block of each width expansion too. */
  fullWidth: boolean
  seed: number
}

/** Source block of grown block i for stacking or interleaving. */
export function sourceBlock(kind: 'stack' | 'interleave', i: number, L1: number, L2: number): number {
  return kind === 'stack' ? i % L1 : Math.floor((i * L1) / L2)
}

/**
 * A fresh operator from the small and large configs and the large schema (tensor list), with the chosen inits.
 * `fp` width keeps the source's function exactly in pre-norm models, combined with `fp` depth (new blocks are
 * copies whose output projections are zero): at a multiple of the old residual width by copies (every coordinate
 * copied equally often keeps the norms' statistics), at any other width by LEMON's average expansion (SpaceOp.Min),
 * which also scales the grown config's norm ε (the returned operator's `large`).
 */
export function initOperator(small: ModelConfig, large: ModelConfig, largeSchema: Schema, o: OperatorInit): LigoOperator {
  const rng = new Rng(o.seed)
  if (o.width === 'auto') o = {...o, width: large.d_model % small.d_model === 0 ? 'fp' : 'rand'}
  const L1 = small.n_layer
  const L2 = large.n_layer
  const width = new Map<string, SpaceOp>()
  const make = (key: string, space: Space) => {
    const d1 = spaceSize(small, space)
    const d2 = spaceSize(large, space)
    width.set(key, widthOp(space, d1, d2, o, rng, small.head_size))
  }
  if (o.width === 'fp' && large.d_model % small.d_model !== 0) {
    width.set('resid', averageExpansion(small.d_model, large.d_model, centredNorms(small)))
    large = withNormEps(large, (normEps(small) * small.d_model) / large.d_model)
  } else make('resid', 'resid')
  for (let i = 0; i < L2; i++) for (const s of PER_LAYER_SPACES) make(`h.${i}.${s}`, s)
  if (o.width === 'fp') {
    // q, k and v of a block must select the same heads for a copied head to attend like its source.
    for (let i = 0; i < L2; i++) {
      const q = width.get(`h.${i}.q`)!
      for (const s of ['k', 'v'] as const) {
        const op = width.get(`h.${i}.${s}`)!
        if (op.d1 === q.d1 && op.d2 === q.d2) op.M = Float32Array.from(q.M)
      }
    }
  }

  const depth = new Map<string, Float32Array>()
  const seen = new Set<number>()
  for (let i = 0; i < L2; i++) {
    const j = sourceBlock(o.depth === 'stack' ? 'stack' : 'interleave', i, L1, L2)
    const duplicate = seen.has(j)
    seen.add(j)
    for (const p of largeSchema) {
      if (p.layer !== i) continue
      const c = new Float32Array(L1)
      if (o.depth === 'fp') {
        // The first copy of a source block is that block; later copies are identity blocks (zero output).
        if (!(duplicate && writesResidual(p, largeSchema))) c[j] = 1
      } else {
        c[j] = 1
        if (o.depthNoise > 0 && L1 > 1) {
          for (let k = 0; k < L1; k++) if (k !== j) c[k] = rng.next() * o.depthNoise
          const sum = c.reduce((a, b) => a + b, 0)
          for (let k = 0; k < L1; k++) c[k] /= sum
        }
      }
      depth.set(`h.${i}.${p.module}`, c)
    }
  }
  return {small, large, width, depth}
}

function widthOp(space: Space, d1: number, d2: number, o: OperatorInit, rng: Rng, headSize: number): SpaceOp {
  const extra = d2 - d1
  const M = new Float32Array(extra * d1)
  const N = new Float32Array(d2).fill(1)
  const op: SpaceOp = {space, d1, d2, M, N}
  if (o.fullWidth && extra > 0) {
    op.T = new Float32Array(d1 * d1)
    for (let i = 0; i < d1; i++) op.T[i * d1 + i] = 1
  }
  if (extra === 0) return op
  if (o.width === 'rand') {
    // Each new coordinate a random convex combination of the old ones (official `rand`).
    for (let r = 0; r < extra; r++) {
      let sum = 0
      for (let c = 0; c < d1; c++) sum += M[r * d1 + c] = rng.next()
      for (let c = 0; c < d1; c++) M[r * d1 + c] /= sum
    }
    return op
  }
  // select / fp: each new coordinate copies one old coordinate. The source of new coordinate r:
  const src = new Int32Array(extra)
  if (space === 'resid') {
    if (o.width === 'fp' && d2 % d1 !== 0) throw new Error(`widthOp: fp at ${d1} → ${d2} is an average expansion (averageExpansion)`)
    for (let r = 0; r < extra; r++) src[r] = o.width === 'fp' ? r % d1 : rng.int(d1)
  } else if (space === 'ffn') {
    for (let r = 0; r < extra; r++) src[r] = rng.int(d1) // Net2Net: random units
  } else {
    // Head spaces: whole heads are copied (a head's coordinates stay together): fp tiles the old heads,
    // select draws one random source head per new head.
    const h1 = d1 / headSize
    let oldHead = 0
    for (let r = 0; r < extra; r++) {
      if (r % headSize === 0) oldHead = o.width === 'fp' ? (r / headSize) % h1 : rng.int(h1)
      src[r] = oldHead * headSize + (r % headSize)
    }
  }
  for (let r = 0; r < extra; r++) M[r * d1 + src[r]] = 1
  if (o.width === 'fp') {
    // Copies of one coordinate split its outgoing weight unequally (weights sum to 1): the function is kept
    // exactly, and the copies' gradients differ so they can part ways (LEMON's symmetry breaking).
    const groups = new Map<number, number[]>()
    for (let c = 0; c < d1; c++) groups.set(c, [c])
    for (let r = 0; r < extra; r++) groups.get(src[r])!.push(d1 + r)
    const headLevel = space === 'q' || space === 'k' || space === 'v'
    for (const [c, members] of groups) {
      if (members.length === 1) continue
      if (headLevel && c % headSize !== 0) continue // one split per head, applied to all its coordinates below
      const w = members.map(() => 0.5 + rng.next())
      const sum = w.reduce((a, b) => a + b, 0)
      members.forEach((m, k) => {
        if (headLevel) for (let d = 0; d < headSize; d++) N[m + d] = w[k] / sum
        else N[m] = w[k] / sum
      })
    }
  }
  return op
}

/**
 * LEMON's norm-preserving expansion of the residual stream from d1 to d2 (not a multiple): see SpaceOp.Min.
 * `centred`: LayerNorm (average rows) rather than RMSNorm (zero rows).
 */
export function averageExpansion(d1: number, d2: number, centred: boolean): SpaceOp {
  const extra = d2 - d1
  const M = new Float32Array(extra * d1)
  if (centred) M.fill(1 / d1)
  const Min = new Float32Array(extra * d1)
  for (let r = 0; r < extra; r++) Min[r * d1 + (r % d1)] = 1
  return {space: 'resid', d1, d2, M, N: new Float32Array(d2).fill(1), Min}
}

/** The learnable parameters, by name, in a fixed order: width.{key}.M (and .T), depth.{key}. */
export function learnables(op: LigoOperator, o: {width: boolean; depth: boolean}): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>()
  if (o.width)
    for (const [k, s] of op.width) {
      if (s.M.length > 0) out.set(`width.${k}.M`, s.M)
      if (s.T) out.set(`width.${k}.T`, s.T)
    }
  if (o.depth) for (const [k, c] of op.depth) out.set(`depth.${k}`, c)
  return out
}

/** Every operator array by name (learned and fixed), for ligo.safetensors. */
export function operatorTensors(op: LigoOperator): Map<string, {shape: number[]; data: Float32Array}> {
  const out = new Map<string, {shape: number[]; data: Float32Array}>()
  for (const [k, s] of op.width) {
    out.set(`width.${k}.M`, {shape: [s.d2 - s.d1, s.d1], data: s.M})
    out.set(`width.${k}.N`, {shape: [s.d2], data: s.N})
    if (s.T) out.set(`width.${k}.T`, {shape: [s.d1, s.d1], data: s.T})
    if (s.Min) out.set(`width.${k}.Min`, {shape: [s.d2 - s.d1, s.d1], data: s.Min})
  }
  for (const [k, c] of op.depth) out.set(`depth.${k}`, {shape: [c.length], data: c})
  return out
}

/** Rebuilds an operator from ligo.safetensors contents, checking every array against the two configs. */
export function operatorFromTensors(
  small: ModelConfig,
  large: ModelConfig,
  largeSchema: Schema,
  tensors: Map<string, {shape: number[]; data: Float32Array | Int32Array | Uint8Array}>,
  file: string,
): LigoOperator {
  const get = (name: string, shape: number[], optional = false): Float32Array | undefined => {
    const t = tensors.get(name)
    if (!t) {
      if (optional) return undefined
      throw new InputError(`${file}: missing operator tensor '${name}'`)
    }
    if (!(t.data instanceof Float32Array) || t.shape.join(',') !== shape.join(','))
      throw new InputError(`${file}: operator tensor '${name}' has shape [${t.shape}], expected [${shape}] for ${small.d_model}→${large.d_model} wide, ${small.n_layer}→${large.n_layer} deep`)
    return t.data
  }
  const width = new Map<string, SpaceOp>()
  const keys: [string, Space][] = [['resid', 'resid']]
  for (let i = 0; i < large.n_layer; i++) for (const s of PER_LAYER_SPACES) keys.push([`h.${i}.${s}`, s])
  for (const [k, s] of keys) {
    const d1 = spaceSize(small, s)
    const d2 = spaceSize(large, s)
    const op: SpaceOp = {space: s, d1, d2, M: get(`width.${k}.M`, [d2 - d1, d1])!, N: get(`width.${k}.N`, [d2])!, T: get(`width.${k}.T`, [d1, d1], true)}
    const Min = get(`width.${k}.Min`, [d2 - d1, d1], true)
    if (Min) {
      if (k !== 'resid') throw new InputError(`${file}: operator tensor 'width.${k}.Min' is not expected: only the residual stream has an average expansion`)
      op.Min = Min
    }
    width.set(k, op)
  }
  const depth = new Map<string, Float32Array>()
  for (const p of largeSchema) if (p.layer !== null) depth.set(`h.${p.layer}.${p.module}`, get(`depth.h.${p.layer}.${p.module}`, [small.n_layer])!)
  return {small, large, width, depth}
}
