/**
 * Analytic training FLOPs, the accounting every experiment charges (Kaplan et al. 2020, as in nanoGPT's MFU):
 *
 *   flops/token = 6 · N_matmul + 12 · L · T · A
 *
 * N_matmul counts the weights that take part in matrix products for every token: all `hidden` and `readout`
 * matrices of the schema, plus the token embedding when it doubles as the tied readout (a V×C product per
 * token). Embedding lookups, norms, biases and elementwise work are not counted. The attention term is the
 * score (q·kᵀ) and mix (p·v) products over the full T×T score matrix (2·2·T·A per token and layer forward, ×3
 * for forward + backward), not halved for the causal mask — the same convention as PaLM's and nanoGPT's MFU.
 * Forward-only work (evaluation) is one third of this.
 *
 * These are model FLOPs (PaLM's MFU convention): the work the architecture needs, not what the run executed.
 * Reversible blocks (model.reversible) recompute each block's forward during the backward pass, about one third
 * more block work executed, and LSH attention scores fewer than T×T pairs; neither changes the count, so runs
 * that differ only in those memory savers are charged alike.
 */
import type {ModelConfig} from '../model/index.js'
import {type Schema, numel} from '../model/schema.js'

export function matmulParams(c: ModelConfig, schema: Schema): number {
  let n = 0
  for (const p of schema) if (p.role === 'hidden' || p.role === 'readout') n += numel(p.shape)
  if (c.tie_embeddings) n += c.vocab_size * c.d_model
  return n
}

/** Training FLOPs (forward + backward) per token at sequence length T. */
export function trainFlopsPerToken(c: ModelConfig, schema: Schema, T: number): number {
  return 6 * matmulParams(c, schema) + 12 * c.n_layer * T * c.n_head * c.head_size
}
