/**
 * Validation loss, perplexity and bits per byte over the held-out split.
 *
 * One evaluation set per checkpoint: the first `eval_batches · batch` windows of `seq` tokens at the front of the
 * validation split, read from the checkpoint's own training settings (train.batch, train.seq, train.eval_batches;
 * 16, the context and 20 for a checkpoint that has none, e.g. an imported one). `ligo train` evaluates on it,
 * `ligo grow` evaluates the grown model on its source's, and `ligo eval` uses it by default, so the three report
 * the same validation loss for the same weights. Every figure is printed with the number of tokens it covers.
 */
import type {ModelConfig} from '../model/index.js'
import type {Schema} from '../model/schema.js'
import {evalBatches, evalPlan} from '../data/batches.js'
import type {TokenFile} from '../data/tokens.js'
import {type Weights, lossOnly} from './step.js'

export interface EvalResult {
  /** Mean cross-entropy per token, in nats. */
  loss: number
  perplexity: number
  /** loss / ln 2 · tokens per byte of raw text. */
  bits_per_byte: number
  tokens: number
  batches: number
}

/** Sequences per evaluation batch and batches per evaluation when a checkpoint records none. */
export const EVAL_DEFAULTS = {batch: 16, batches: 20} as const

export interface EvalSet {
  batch: number
  seq: number
  /** Batches to score; 0 = the whole split. */
  maxBatches: number
}

/**
 * A checkpoint's evaluation set (see the header), with optional overrides. `seq` is capped at the context.
 */
export function evalSetOf(
  model: Pick<ModelConfig, 'n_positions'>,
  train: {batch: number; seq: number; eval_batches: number} | undefined,
  o: {batch?: number; seq?: number; batches?: number} = {},
): EvalSet {
  return {
    batch: o.batch ?? train?.batch ?? EVAL_DEFAULTS.batch,
    seq: Math.min(o.seq ?? train?.seq ?? model.n_positions, model.n_positions),
    maxBatches: o.batches ?? train?.eval_batches ?? EVAL_DEFAULTS.batches,
  }
}

export function evaluate(
  c: ModelConfig,
  schema: Schema,
  weights: Weights,
  val: TokenFile,
  o: {batch: number; seq: number; maxBatches?: number; bytesPerToken?: number; onBatch?: (done: number, total: number) => void},
): EvalResult {
  let sum = 0
  let tokens = 0
  let batches = 0
  const opts = {batch: o.batch, seq: o.seq, maxBatches: o.maxBatches || undefined}
  const total = o.onBatch ? evalPlan(val.length, opts).batches : 0
  for (const b of evalBatches(val, opts)) {
    const n = b.inputs.length
    sum += lossOnly(c, schema, weights, b) * n
    tokens += n
    batches++
    o.onBatch?.(batches, total)
  }
  if (tokens === 0) throw new Error(`the validation split is shorter than one sequence of ${o.seq + 1} tokens`)
  const loss = sum / tokens
  return {loss, perplexity: Math.exp(loss), bits_per_byte: loss / Math.LN2 / (o.bytesPerToken ?? 1), tokens, batches}
}
