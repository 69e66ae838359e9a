/**
 * LLaMA-Pro block expansion (Wu et al. 2024, TencentARC/LLaMA-Pro): after a growth inserts blocks, train only
 * the inserted blocks and keep everything else — the source's blocks, the embeddings, the final norm and the
 * readout — frozen. `ligo grow` records the inserted blocks (`provenance.growth.new_blocks`) and `ligo train
 * GROWN --train-only new` trains exactly those (train.train_blocks; src/train/trainer.ts): the optimizer holds
 * only their tensors and the frozen tensors get no gradient, no update and no weight decay, so their bytes do not
 * change.
 *
 * LLaMA-Pro's own insertion is net2net's depth growth here: copies of a block with zero output projections,
 * interleaved, so each new block starts as the identity (its maintainers zero o_proj and down_proj rather than
 * the norm, whose zero gain would stop the gradient: TencentARC/LLaMA-Pro #28). After `zero`, `stack`,
 * `interleave` or `ligo` growth the inserted blocks are the later copies of each source block.
 */
import {InputError} from '../errors.js'
import type {ModelConfig} from '../model/index.js'
import type {Schema} from '../model/schema.js'
import type {LigoOperator} from './operator.js'
import {writesResidual} from './spaces.js'

/**
 * The blocks of the grown model a growth inserted, in increasing order: MSG's blocks on top of the source's;
 * for an operator, every block whose main source block (the largest depth coefficient of a tensor that does not
 * write the residual stream) already gave an earlier block. Undefined for `random` (nothing comes from the source).
 */
export function insertedBlocks(method: string, small: ModelConfig, large: ModelConfig, schema: Schema, op?: LigoOperator): number[] | undefined {
  if (method === 'msg') return Array.from({length: large.n_layer - small.n_layer}, (_, i) => small.n_layer + i)
  if (!op) return undefined
  const seen = new Set<number>()
  const out: number[] = []
  for (let i = 0; i < large.n_layer; i++) {
    const probe = schema.find((p) => p.layer === i && !writesResidual(p, schema))!
    const c = op.depth.get(`h.${i}.${probe.module}`)!
    let j = 0
    for (let k = 1; k < c.length; k++) if (c[k] > c[j]) j = k
    if (seen.has(j)) out.push(i)
    seen.add(j)
  }
  return out
}

/**
 * `ligo train --train-only`: `new` → the blocks the growth of checkpoint `ck` inserted (train.train_blocks),
 * `all` → none frozen (undefined). An InputError when `ck` is not a grown checkpoint that inserted blocks.
 */
export function trainOnlyBlocks(which: 'new' | 'all', ck?: {dir: string; meta: {provenance?: Record<string, unknown>}}): number[] | undefined {
  if (which === 'all') return undefined
  if (!ck) throw new InputError('--train-only new trains the blocks a growth inserted: give the grown checkpoint (`ligo train GROWN --train-only new ...`)')
  const growth = ck.meta.provenance?.growth as {method?: string; new_blocks?: unknown} | undefined
  if (!growth) throw new InputError(`--train-only new: ${ck.dir} has no growth record (provenance.growth): give a checkpoint written by \`ligo grow\``)
  const blocks = growth.new_blocks
  if (!Array.isArray(blocks))
    throw new InputError(`--train-only new: ${ck.dir} was grown by ${growth.method ?? 'an unknown method'}${growth.method === 'random' ? ' (a fresh init: no block comes from the source, so none is new)' : ''}, with no record of inserted blocks (provenance.growth.new_blocks)`)
  if (blocks.length === 0) throw new InputError(`--train-only new: the growth of ${ck.dir} inserted no blocks (it grew the width only), so nothing would train`)
  return blocks as number[]
}
