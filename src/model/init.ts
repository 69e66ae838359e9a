/**
 * Fresh weights from the schema's init column, drawn from one seeded stream in schema order so that the same
 * config and seed always give the same model.
 */
import {Rng} from '../data/rng.js'
import {type ParamSpec, type Schema, numel} from './schema.js'

export type Weights = Map<string, Float32Array>

/** `stds` overrides the std of normal-initialised tensors by name (µP's width-dependent init). */
export function initWeights(schema: Schema, seed: number, stds: Map<string, number> = new Map()): Weights {
  const stream = new InitStream(schema, seed, stds)
  const out: Weights = new Map()
  for (const p of schema) out.set(p.name, stream.take(p))
  return out
}

/**
 * The same stream as `initWeights`, one tensor at a time, for models too large to hold twice: `take(p)` returns
 * p's fresh values. Tensors must be taken in schema order; those skipped over are not made, their draws are
 * advanced past (Rng.skipNormals), so every tensor taken has exactly the values `initWeights` gives it.
 */
export class InitStream {
  private readonly rng: Rng
  private next = 0

  constructor(
    private readonly schema: Schema,
    seed: number,
    private readonly stds: Map<string, number> = new Map(),
  ) {
    this.rng = new Rng(seed)
  }

  /** By name: `p` may come from another copy of the same schema. */
  take(p: Pick<ParamSpec, 'name'>): Float32Array {
    let at = this.next
    while (at < this.schema.length && this.schema[at].name !== p.name) at++
    if (at === this.schema.length) at = -1
    if (at < 0) throw new Error(`InitStream: ${p.name} is not in the schema after the tensors already taken (take them in schema order)`)
    for (; this.next < at; this.next++) {
      const q = this.schema[this.next]
      if (q.init.kind === 'normal') this.rng.skipNormals(numel(q.shape))
    }
    this.next = at + 1
    const q = this.schema[at]
    const a = new Float32Array(numel(q.shape))
    switch (q.init.kind) {
      case 'normal': {
        const std = this.stds.get(q.name) ?? q.init.std
        for (let i = 0; i < a.length; i++) a[i] = this.rng.normal() * std
        break
      }
      case 'ones':
        a.fill(1)
        break
      case 'zeros':
        break
    }
    return a
  }
}
