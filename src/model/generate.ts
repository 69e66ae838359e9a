/**
 * Autoregressive sampling: temperature, top-k, a seeded RNG (same seed, same text). The context is the last
 * n_positions tokens; each new token recomputes the forward pass over that window (no KV cache: the models this
 * tool trains are small).
 */
import * as tf from '@tensorflow/tfjs-core'

import {Rng} from '../data/rng.js'
import {type ModelConfig, forward} from './index.js'
import type {Schema} from './schema.js'

export interface SampleOptions {
  tokens: number
  temperature: number
  /** Keep the k most likely tokens (0 = all). */
  topK: number
  seed: number
  /** Called with each new token id as it is produced. */
  onToken?: (id: number) => void
}

export function generate(c: ModelConfig, schema: Schema, weights: Map<string, Float32Array>, prompt: number[], o: SampleOptions): number[] {
  const rng = new Rng(o.seed)
  const ids = [...prompt]
  const params = new Map(schema.map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape, 'float32')]))
  try {
    for (let n = 0; n < o.tokens; n++) {
      const ctx = ids.slice(-c.n_positions)
      const T = ctx.length
      // The tensor, not its data, out of tf.tidy: tidy walks a returned typed array value by value (vocab-sized here).
      const last = tf.tidy(() => tf.slice(forward(c, params, Int32Array.from(ctx), 1, T), [T - 1, 0], [1, c.vocab_size]))
      const logits = last.dataSync() as Float32Array
      last.dispose()
      const next = sampleFrom(logits, o.temperature, o.topK, rng)
      ids.push(next)
      o.onToken?.(next)
    }
  } finally {
    for (const t of params.values()) t.dispose()
  }
  return ids.slice(prompt.length)
}

/** Draws one id from logits; temperature 0 is greedy (argmax). */
export function sampleFrom(logits: Float32Array, temperature: number, topK: number, rng: Rng): number {
  let best = 0
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i
  if (temperature <= 0) return best
  let order = Array.from(logits.keys())
  if (topK > 0 && topK < logits.length) order = order.sort((a, b) => logits[b] - logits[a]).slice(0, topK)
  const max = logits[best]
  const w = order.map((i) => Math.exp((logits[i] - max) / temperature))
  const total = w.reduce((a, b) => a + b, 0)
  let r = rng.next() * total
  for (let j = 0; j < order.length; j++) {
    r -= w[j]
    if (r <= 0) return order[j]
  }
  return order[order.length - 1]
}
