/**
 * The parameter schema: one table that says, for every tensor of a model, its shape in named spaces, its role
 * and its initialisation. Parameter counts, weight-decay groups, µP multipliers, LiGO's growth operators and the
 * Hugging Face name mapping all read this table instead of matching names.
 */

/**
 * The space a tensor dimension lives in.
 * - `resid`: the residual stream (width C).
 * - `q`, `k`, `v`: the concatenated head outputs of the query/key/value projections (NH·HS).
 * - `ffn`: the feed-forward hidden space (F).
 * - `vocab`: token ids (V).  `pos`: positions (T_max).
 */
export type Space = 'resid' | 'q' | 'k' | 'v' | 'ffn' | 'vocab' | 'pos'

/**
 * What a tensor does, which decides µP and weight-decay treatment:
 * - `embedding`: input lookup tables (fan-in is a one-hot: width-independent).
 * - `hidden`: matrices mapping one width space to another.
 * - `readout`: the output projection to the vocabulary.
 * - `gain` / `bias`: vectors (norm gains, norm and linear biases).
 */
export type Role = 'embedding' | 'hidden' | 'readout' | 'gain' | 'bias'

export type Init =
  | {kind: 'normal'; std: number}
  | {kind: 'zeros'}
  | {kind: 'ones'}

export interface ParamSpec {
  /** Internal name, e.g. `h.3.attn.q_proj.weight`. */
  name: string
  /** Block index for per-layer tensors, null for global ones (embeddings, final norm, head). */
  layer: number | null
  /** The tensor's name inside its block (`attn.q_proj.weight`), or the global name: LiGO's module type. */
  module: string
  shape: number[]
  /** The space of each dimension; same length as shape. */
  spaces: Space[]
  role: Role
  init: Init
}

/** A resolved table of a model's parameters, in a fixed order. */
export type Schema = ParamSpec[]

export function numel(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

export function countParams(schema: Schema, filter: (p: ParamSpec) => boolean = () => true): number {
  let n = 0
  for (const p of schema) if (filter(p)) n += numel(p.shape)
  return n
}

/** Weight decay applies to matrices (hidden, readout, embedding), never to gains and biases. */
export function decays(p: ParamSpec): boolean {
  return p.role === 'hidden' || p.role === 'readout' || p.role === 'embedding'
}

/** Number of dimensions of a tensor that scale with model width (µP's "infinite" dimensions). */
export function widthDims(p: ParamSpec): number {
  return p.spaces.filter((s) => s !== 'vocab' && s !== 'pos').length
}
