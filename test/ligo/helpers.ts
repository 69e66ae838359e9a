/** What the LiGO materialisation tests share. */
import {Rng} from '../../src/data/rng.js'
import type {LigoOperator} from '../../src/ligo/operator.js'
import {modelConfig} from '../../src/model/index.js'

/** The source model of the materialisation tests: 2 blocks × 8 wide, vocabulary 11. */
export const SMALL = modelConfig({vocab_size: 11, n_positions: 6, n_layer: 2, d_model: 8, n_head: 2, d_ffn: 16})

/** Every operator array (width M, N, T and depth coefficients) set to seeded uniform values in [−1, 1). */
export function randomize(op: LigoOperator, seed: number): void {
  const r = new Rng(seed)
  const fill = (a: Float32Array) => a.forEach((_, i) => (a[i] = r.next() * 2 - 1))
  for (const s of op.width.values()) {
    fill(s.M)
    fill(s.N)
    if (s.T) fill(s.T)
  }
  for (const c of op.depth.values()) fill(c)
}
