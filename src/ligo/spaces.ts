/**
 * Which sizes a growth changes, read from the parameter schema's spaces.
 *
 * Spaces grow independently: the residual stream once for the whole model (`resid`), and per block the query,
 * key and value head spaces and the FFN hidden space. Vocabulary and positions never change. Head size never
 * changes: new heads are added.
 */
import * as os from 'node:os'

import {ConfigError, InputError} from '../errors.js'
import {type ModelConfig, modelConfig, schemaOf} from '../model/index.js'
import {type ParamSpec, type Schema, type Space, numel} from '../model/schema.js'
import {type ForwardMultipliers, forwardMultipliers} from '../mup/rules.js'

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
  if (!schema.some((q, i) => q.layer !== null && i < idx)) return false
  if (p.role === 'gain') return true
  // A bias is the norm's when a gain of the same module sits beside it (`ln_f.bias` ↔ `ln_f.weight`); biases of
  // linear layers after the blocks (BERT's MLM transform dense, its vocabulary output bias) are not.
  const stem = p.module.replace(/\.bias$/, '')
  return schema.some((q) => q.layer === null && q.role === 'gain' && q.module.replace(/\.weight$/, '') === stem)
}

/**
 * How much more the grown model's forward multiplies than the source's: forwardMultipliers(large) /
 * forwardMultipliers(small), per multiplier. All 1 under SP, and under µP unless the widths they read change
 * (the readout's α_out/m moves with the residual width; input α_in never; attention only with the head size).
 */
export function multiplierRatios(small: ModelConfig, large: ModelConfig): ForwardMultipliers {
  const a = forwardMultipliers(small)
  const b = forwardMultipliers(large)
  return {input: b.input / a.input, attention: b.attention / a.attention, readout: b.readout / a.readout}
}

/**
 * The constant factor that undoes the change of forward multipliers (`multiplierRatios`) on grown tensor `p`
 * (large schema), so that a function-preserving operator stays function preserving under µP; exactly 1 when the
 * ratios are. Each multiplier is compensated on tensors that feed only it:
 * - input α_in (on the embedding sum): every embedding table ÷ r_input;
 * - attention (on qᵀk): the query projection, weight and bias (out-space `q`) ÷ r_attention; rotary positions are
 *   linear in q, and shared-QK (LSH) attention normalises its keys, so qᵀk scales with q alone;
 * - readout (on the logits, before BERT's output bias): the final norm, gain and bias, ÷ r_readout (and × r_input
 *   when the readout is tied to the embedding that was ÷ r_input); without a final norm, the readout matrix.
 */
export function compensation(p: ParamSpec, schema: Schema, r: ForwardMultipliers, tied: boolean): number {
  if (r.input === 1 && r.attention === 1 && r.readout === 1) return 1
  let f = 1
  if (p.role === 'embedding') f /= r.input
  if ((p.role === 'hidden' || p.role === 'bias') && p.spaces[p.spaces.length - 1] === 'q') f /= r.attention
  const readoutFix = tied ? r.input / r.readout : 1 / r.readout
  if (schema.some((q) => q.layer === null && q.role === 'gain' && isFinalNorm(q, schema))) {
    if (isFinalNorm(p, schema)) f *= readoutFix
  } else if (tied) {
    if (readoutFix !== 1) throw new Error('growth: a tied readout without a final norm cannot absorb the change of the µP readout multiplier')
  } else if (p.role === 'readout') f *= readoutFix
  return f
}

/**
 * Whether `p` is a norm's gain or a norm's bias (a bias with a gain of the same module beside it: `ln_1.bias` ↔
 * `ln_1.weight`); undefined for everything else (linear layers' biases included).
 */
export function normParam(p: ParamSpec, schema: Schema): 'gain' | 'bias' | undefined {
  if (p.role === 'gain') return 'gain'
  if (p.role !== 'bias' || !p.module.endsWith('.bias')) return undefined
  const stem = p.module.slice(0, -'.bias'.length)
  return schema.some((q) => q.layer === p.layer && q.role === 'gain' && q.module === `${stem}.weight`) ? 'bias' : undefined
}

/** Whether the family's norms subtract the mean (LayerNorm: gpt2, bert) or only divide by the RMS (llama). */
export function centredNorms(c: ModelConfig): boolean {
  return c.family !== 'llama'
}

/** The family's norm ε (layer_norm_eps or rms_norm_eps). */
export function normEps(c: ModelConfig): number {
  return c.family === 'llama' ? c.rms_norm_eps : c.layer_norm_eps
}

/** `c` with its norm ε replaced. */
export function withNormEps(c: ModelConfig, eps: number): ModelConfig {
  return c.family === 'llama' ? {...c, rms_norm_eps: eps} : {...c, layer_norm_eps: eps}
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
  /** New number of key/value heads (Llama, grouped-query attention); default: keeps the query heads per kv head. */
  kvHeads?: number
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
  const kv = growKvHeads(src, heads, t, width)
  if (kv !== undefined) (out as {n_kv_head?: number}).n_kv_head = kv
  checkGrown(out, t)
  return out
}

/**
 * Grouped-query attention (Llama): the grown model's kv head count. By default the source's query heads per kv
 * head are kept (6 heads / 2 kv → 12 / 4), which needs a head count that the group size divides; otherwise, or
 * with --kv-heads, a count that divides the heads and keeps every source kv head. Refused up front, with the
 * values that would work, rather than writing a model every later command refuses.
 */
function growKvHeads(src: ModelConfig, heads: number, t: GrowTarget, width: number): number | undefined {
  const kvSrc = (src as {n_kv_head?: number}).n_kv_head
  if (kvSrc === undefined) {
    if (t.kvHeads !== undefined) throw new InputError(`--kv-heads applies to Llama models (grouped-query attention); this is a ${src.family} model`)
    return undefined
  }
  // A grouped source cannot become full multi-head attention: its output projection reads the query-head space
  // (the schema's `q`), a multi-head one the value space (`v`), and growth maps spaces, not layouts.
  const grouped = kvSrc < src.n_head
  const valid = Array.from({length: heads}, (_, i) => i + 1).filter((k) => heads % k === 0 && k >= kvSrc && !(grouped && k === heads))
  const what = t.heads === undefined ? `${heads} heads (--width ${width} / head size ${src.head_size})` : `--heads ${heads}`
  if (t.kvHeads !== undefined) {
    if (t.kvHeads < kvSrc) throw new InputError(`--kv-heads ${t.kvHeads} is fewer than the source's ${kvSrc} key/value heads: growth cannot remove heads`)
    if (heads % t.kvHeads !== 0) throw new InputError(`--kv-heads ${t.kvHeads} does not divide ${what}: give one of ${valid.join(', ')}`)
    if (grouped && t.kvHeads === heads)
      throw new InputError(`--kv-heads ${t.kvHeads} = ${what} would turn the source's grouped-query attention into multi-head attention, which growth cannot map: give one of ${valid.join(', ')}`)
    return t.kvHeads
  }
  const group = src.n_head / kvSrc
  if (heads % group === 0) return heads / group
  const more = Math.ceil(heads / group) * group
  throw new InputError(
    `${what} cannot keep the source's ${group} query heads per key/value head (${src.n_head} heads, ${kvSrc} kv heads): ` +
      `${valid.length > 0 ? `give --kv-heads (one of ${valid.join(', ')}), or ` : 'use '}${t.heads === undefined ? `--width ${more * src.head_size}` : `--heads ${more}`} (${more} heads, ${more / group} kv heads)`,
  )
}

/** Flags that set each grown config key, for messages. */
const FLAG_OF: Record<string, string> = {d_model: '--width', n_layer: '--depth', n_head: '--heads', d_ffn: '--ffn', n_kv_head: '--kv-heads'}

/** The largest Float32Array (elements): tensors beyond it cannot be held at all. */
const MAX_TENSOR_ELEMENTS = 2 ** 32

/**
 * Refuses a grown model the loader would refuse (its config limits: n_layer ≤ 1024, d_model ≤ 65536, ...) or that
 * cannot be held: a tensor beyond a typed array's length, or weights larger than this machine's memory. Checked
 * before anything is allocated or written.
 */
export function checkGrown(large: ModelConfig, t: GrowTarget = {}): void {
  try {
    modelConfig(large, 'the grown model')
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const key = error.field.replace(/^model\./, '')
    const flag = FLAG_OF[key]
    const given = flag && {'--width': t.width, '--depth': t.depth, '--heads': t.heads, '--ffn': t.ffn, '--kv-heads': t.kvHeads}[flag]
    throw new InputError(`${flag ? `${flag}${given === undefined ? ' (derived)' : ` ${given}`}: ` : ''}${error.message.replace(/^the grown model: /, 'the grown model would not load: ')}`)
  }
  const schema = schemaOf(large)
  const biggest = schema.reduce((a, p) => (numel(p.shape) > numel(a.shape) ? p : a))
  if (numel(biggest.shape) > MAX_TENSOR_ELEMENTS)
    throw new InputError(`the grown model's ${biggest.name} would have ${numel(biggest.shape).toExponential(2)} values [${biggest.shape}], more than one array can hold (${MAX_TENSOR_ELEMENTS.toExponential(2)}); grow less`)
  const bytes = 4 * schema.reduce((n, p) => n + numel(p.shape), 0)
  if (bytes > os.totalmem())
    throw new InputError(`the grown model's weights would take ${(bytes / 2 ** 30).toFixed(1)} GiB as float32, more than this machine's ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB of memory; grow less`)
}
