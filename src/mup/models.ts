/**
 * The width ladders that coordinate checks and LR sweeps build: same depth, the head size pegged (heads grow
 * with width, TP5 App. D.4), d_ffn = ffn_ratio·d_model, and the base shapes at the smallest width of the
 * ladder, so the narrowest µP model is exactly its SP twin.
 */
import {type ModelConfig, modelConfig} from '../model/index.js'
import {InputError} from '../errors.js'
import {PARAMETRIZATIONS, type Parametrization} from './rules.js'

export interface LadderOptions {
  widths: readonly number[]
  n_layer: number
  head_size: number
  vocab_size: number
  n_positions: number
  ffn_ratio?: number
  /** Extra model keys (alpha_in, alpha_out, alpha_attn, zero_query, tie_embeddings, init_std...). */
  model?: Record<string, unknown>
}

/** Checks a width list: ascending-sortable positive multiples of the head size. Returns it sorted. */
export function checkWidths(widths: readonly number[], headSize: number): number[] {
  if (widths.length === 0) throw new InputError('no widths given: expected e.g. 64,128,256')
  for (const w of widths) {
    if (!Number.isInteger(w) || w < 1) throw new InputError(`width ${w}: expected a positive integer`)
    if (w % headSize !== 0) throw new InputError(`width ${w} is not a multiple of the head size ${headSize}; choose widths that are, or another --head-size`)
  }
  return [...new Set(widths)].sort((a, b) => a - b)
}

/** The model at `width` in `param`, with base shapes at the ladder's smallest width. */
export function ladderModel(o: LadderOptions, width: number, param: Parametrization): ModelConfig {
  const ratio = o.ffn_ratio ?? 4
  const base = Math.min(...o.widths)
  return modelConfig({
    ...o.model,
    vocab_size: o.vocab_size,
    n_positions: o.n_positions,
    n_layer: o.n_layer,
    d_model: width,
    n_head: width / o.head_size,
    head_size: o.head_size,
    d_ffn: ratio * width,
    param,
    base_d_model: base,
    base_n_head: base / o.head_size,
    base_head_size: o.head_size,
    base_d_ffn: ratio * base,
  })
}

/** Parses a comma-separated flag value into numbers (`64,128,256`), naming the flag in the error. */
export function parseNumberList(flag: string, value: string, o: {integer?: boolean; min?: number} = {}): number[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  if (items.length === 0) throw new InputError(`${flag} '${value}': expected a comma-separated list, e.g. 64,128,256`)
  return items.map((s) => {
    const v = Number(s)
    if (!Number.isFinite(v) || (o.integer && !Number.isInteger(v)) || (o.min !== undefined && v < o.min))
      throw new InputError(`${flag}: '${s}' is not ${o.integer ? 'an integer' : 'a number'}${o.min !== undefined ? ` ≥ ${o.min}` : ''}`)
    return v
  })
}

/** Parses `sp,mup` into parametrizations. */
export function parseParams(flag: string, value: string): Parametrization[] {
  const items = [...new Set(value.split(',').map((s) => s.trim()).filter((s) => s.length > 0))]
  for (const s of items) if (!PARAMETRIZATIONS.includes(s as Parametrization)) throw new InputError(`${flag}: '${s}' is not one of ${PARAMETRIZATIONS.join(', ')}`)
  if (items.length === 0) throw new InputError(`${flag} '${value}': expected sp, mup or sp,mup`)
  return items as Parametrization[]
}
