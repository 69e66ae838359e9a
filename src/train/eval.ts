/** Validation loss, perplexity and bits per byte over the held-out split. */
import type {ModelConfig} from '../model/index.js'
import type {Schema} from '../model/schema.js'
import {evalBatches} from '../data/batches.js'
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

export function evaluate(
  c: ModelConfig,
  schema: Schema,
  weights: Weights,
  val: TokenFile,
  o: {batch: number; seq: number; maxBatches?: number; bytesPerToken?: number},
): EvalResult {
  let sum = 0
  let tokens = 0
  let batches = 0
  for (const b of evalBatches(val, {batch: o.batch, seq: o.seq, maxBatches: o.maxBatches || undefined})) {
    const n = b.inputs.length
    sum += lossOnly(c, schema, weights, b) * n
    tokens += n
    batches++
  }
  if (tokens === 0) throw new Error(`the validation split is shorter than one sequence of ${o.seq + 1} tokens`)
  const loss = sum / tokens
  return {loss, perplexity: Math.exp(loss), bits_per_byte: loss / Math.LN2 / (o.bytesPerToken ?? 1), tokens, batches}
}
