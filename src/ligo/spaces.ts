/**
 * Which sizes a growth changes, read from the parameter schema's spaces.
 *
 * Spaces grow independently: the residual stream once for the whole model (`resid`), and per block the query,
 * key and value head spaces and the FFN hidden space. Vocabulary and positions never change. Head size never
 * changes: new heads are added.
 */
import {InputError} from '../errors.js'
import type {ModelConfig} from '../model/index.js'
import type {ParamSpec, Schema, Space} from '../model/schema.js'

/** Spaces that have one expansion per block of the grown model; the others have one for the whole model. */
export const PER_LAYER_SPACES: readonly Space[] = ['q', 'k', 'v', 'ffn']

export function spaceSize(c: ModelConfig, s: Space): number {
  const kvHeads = (c as {n_kv_head?: number}).n_kv_head ?? c.n_head
  switch (s) {
    case 'resid':
      return c.d_model
    case 'q':
      return c.n_head * c.head_size
    case 'k':
    case 'v':
      return kvHeads * c.head_size
    case 'ffn':
      return c.d_ffn
    case 'vocab':
      return c.vocab_size
    case 'pos':
      return c.n_positions
  }
}

/** The key of the expansion that applies to dimension space `s` of tensor `p` (layer index of the grown model). */
export function spaceKey(p: ParamSpec, s: Space): string {
  if (!PER_LAYER_SPACES.includes(s)) return s
  if (p.layer === null) throw new Error(`schema: global tensor ${p.name} has per-layer space '${s}'`)
  return `h.${p.layer}.${s}`
}

/**
 * True for the global norm vectors that sit after the blocks (schemas list tensors in forward order): the final
 * norm, whose output only feeds the readout. With a tied readout, the readout's in-dimension normalisation is
 * applied there (the tied embedding matrix itself is expanded as an embedding).
 */
export function isFinalNorm(p: ParamSpec, schema: Schema): boolean {
  if (p.layer !== null || (p.role !== 'gain' && p.role !== 'bias')) return false
  const idx = schema.indexOf(p)
  return schema.some((q, i) => q.layer !== null && i < idx)
}

/** Whether dimension `d` of `p` reads from its space (in-dimension) rather than writing into it. */
export function isInDim(p: ParamSpec, d: number): boolean {
  return (p.role === 'hidden' || p.role === 'readout') && p.shape.length === 2 && d === 0
}

/**
 * Per-layer tensors that write into the residual stream (output projections and their biases). Zeroing them
 * makes a pre-norm block the identity.
 */
export function writesResidual(p: ParamSpec, schema: Schema): boolean {
  if (p.layer === null) return false
  if (p.role === 'hidden') return p.spaces[p.spaces.length - 1] === 'resid'
  if (p.role === 'bias' && p.module.endsWith('.bias')) {
    const w = schema.find((q) => q.layer === p.layer && q.module === p.module.slice(0, -'.bias'.length) + '.weight')
    return w !== undefined && w.role === 'hidden' && w.spaces[w.spaces.length - 1] === 'resid'
  }
  return false
}

export interface GrowTarget {
  /** New residual width (d_model); default: unchanged. */
  width?: number
  /** New number of blocks; default: unchanged. */
  depth?: number
  /** New number of heads; default: width / head size (head size is kept). */
  heads?: number
  /** New FFN width; default: the source's FFN/width ratio times the new width. */
  ffn?: number
}

/** The grown model's config, or an InputError saying what would work. */
export function growConfig(src: ModelConfig, t: GrowTarget): ModelConfig {
  const width = t.width ?? src.d_model
  const depth = t.depth ?? src.n_layer
  const hs = src.head_size
  if (width < src.d_model) throw new InputError(`--width ${width} is smaller than the source's d_model ${src.d_model}: growth cannot shrink a model`)
  if (depth < src.n_layer) throw new InputError(`--depth ${depth} is smaller than the source's ${src.n_layer} layers: growth cannot shrink a model`)
  if (t.heads === undefined && width % hs !== 0)
    throw new InputError(`--width ${width} is not a multiple of the head size ${hs} (kept when growing): try ${Math.ceil(width / hs) * hs}, or give --heads`)
  const heads = t.heads ?? width / hs
  if (heads < src.n_head) throw new InputError(`--heads ${heads} is fewer than the source's ${src.n_head} heads: growth cannot remove heads`)
  if (src.d_model === src.n_head * hs && width !== heads * hs)
    throw new InputError(`--heads ${heads} × head size ${hs} = ${heads * hs} ≠ width ${width}: the head size is kept when growing, so heads must be width / ${hs}`)
  const ffn = t.ffn ?? Math.round((src.d_ffn / src.d_model) * width)
  if (ffn < src.d_ffn) throw new InputError(`--ffn ${ffn} is smaller than the source's d_ffn ${src.d_ffn}: growth cannot shrink a model`)
  const out = {...src, d_model: width, n_layer: depth, n_head: heads, d_ffn: ffn} as ModelConfig
  const kv = (src as {n_kv_head?: number}).n_kv_head
  if (kv !== undefined) (out as {n_kv_head?: number}).n_kv_head = Math.max(kv, Math.round((kv * heads) / src.n_head))
  return out
}
