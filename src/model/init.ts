/**
 * Fresh weights from the schema's init column, drawn from one seeded stream in schema order so that the same
 * config and seed always give the same model.
 */
import {Rng} from '../data/rng.js'
import {type Schema, numel} from './schema.js'

export type Weights = Map<string, Float32Array>

/** `stds` overrides the std of normal-initialised tensors by name (µP's width-dependent init). */
export function initWeights(schema: Schema, seed: number, stds: Map<string, number> = new Map()): Weights {
  const rng = new Rng(seed)
  const out: Weights = new Map()
  for (const p of schema) {
    const a = new Float32Array(numel(p.shape))
    switch (p.init.kind) {
      case 'normal':
        {
          const std = stds.get(p.name) ?? p.init.std
          for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std
        }
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
