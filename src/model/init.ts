/**
 * Fresh weights from the schema's init column, drawn from one seeded stream in schema order so that the same
 * config and seed always give the same model.
 */
import {Rng} from '../data/rng.js'
import {type Schema, numel} from './schema.js'

export type Weights = Map<string, Float32Array>

export function initWeights(schema: Schema, seed: number): Weights {
  const rng = new Rng(seed)
  const out: Weights = new Map()
  for (const p of schema) {
    const a = new Float32Array(numel(p.shape))
    switch (p.init.kind) {
      case 'normal':
        for (let i = 0; i < a.length; i++) a[i] = rng.normal() * p.init.std
        break
      case 'ones':
        a.fill(1)
        break
      case 'zeros':
        break
    }
    out.set(p.name, a)
  }
  return out
}
