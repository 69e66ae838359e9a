/**
 * The architecture families behind one interface. Everything outside src/model/ goes through here: configs are
 * validated by their family, and the schema says what tensors a model has.
 *
 * Every family's config shares the fields the rest of the tool reads (family, vocab_size, n_positions, n_layer,
 * d_model, n_head, head_size, d_ffn, tie_embeddings) and adds its own (Llama: n_kv_head, rope_theta,
 * rms_norm_eps; BERT: type_vocab_size, mask_id, mask_prob, layer_norm_eps).
 */
import type * as tf from '@tensorflow/tfjs-core'

import '../compute/gradients.js'

import {ConfigError} from '../errors.js'
import {Fields} from '../validate.js'
import {type BertConfig, bertConfig, bertForward, bertLoss, bertSchema} from './bert.js'
import {type Gpt2Config, type Params, type Probe, gpt2Config, gpt2Forward, gpt2Loss, gpt2Schema, gpt2UnusedParams} from './gpt2.js'
import {type LlamaConfig, llamaConfig, llamaForward, llamaLoss, llamaSchema} from './llama.js'
import type {Schema} from './schema.js'

export type ModelConfig = Gpt2Config | LlamaConfig | BertConfig
export type {BertConfig} from './bert.js'
export type {Gpt2Config, Params, Probe} from './gpt2.js'
export type {LlamaConfig} from './llama.js'
export const FAMILIES = ['gpt2', 'llama', 'bert'] as const
export type Family = (typeof FAMILIES)[number]

/** Validates a model config of any family (the `family` key picks it; default gpt2). */
export function modelConfig(raw: unknown, source?: string, prefix = 'model'): ModelConfig {
  const f = Fields.of(raw, prefix, source)
  const family = f.obj.family ?? 'gpt2'
  switch (family) {
    case 'gpt2':
      return gpt2Config(raw, source, prefix)
    case 'llama':
      return llamaConfig(raw, source, prefix)
    case 'bert':
      return bertConfig(raw, source, prefix)
    default:
      throw new ConfigError(f.key('family'), family, `one of ${FAMILIES.join(', ')}`, source)
  }
}

export function schemaOf(c: ModelConfig): Schema {
  switch (c.family) {
    case 'gpt2':
      return gpt2Schema(c)
    case 'llama':
      return llamaSchema(c)
    case 'bert':
      return bertSchema(c)
  }
}

/**
 * The settings that differ between two configs of the same parameters and change the function they compute (the
 * same weights give another loss): reversible blocks, the attention kind, LSH's buckets/chunk/rounds under LSH,
 * µP multipliers... Chunk counts (ffn_chunks, loss_chunks) are exact and are not listed. As `key a → b`.
 */
export function functionChanges(a: ModelConfig, b: ModelConfig): string[] {
  const exact = new Set(['ffn_chunks', 'loss_chunks'])
  const lshOff = (c: ModelConfig) => c.family !== 'gpt2' || c.attention !== 'lsh'
  const [x, y] = [a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>]
  return [...new Set([...Object.keys(x), ...Object.keys(y)])]
    .filter((k) => !exact.has(k) && !(k.startsWith('lsh_') && lshOff(a) && lshOff(b)))
    .filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]))
    .map((k) => `${k} ${JSON.stringify(x[k])} → ${JSON.stringify(y[k])}`)
}

/**
 * Schema tensors the forward pass does not read (their gradient is zero): GPT-2's key projections under shared-QK
 * LSH attention. Training leaves them out of the optimizer: no state, and no weight decay shrinking them.
 */
export function unusedParams(c: ModelConfig): Set<string> {
  return c.family === 'gpt2' ? gpt2UnusedParams(c) : new Set()
}

/**
 * Logits [B·T, V] for ids [B,T]. Call inside tf.tidy. (BERT: MLM logits of the unmasked input.) `probe` receives
 * named intermediates (embed, <block>.attn_logits, <block>.out, logits) for coordinate checks.
 */
export function forward(c: ModelConfig, p: Params, ids: Int32Array, B: number, T: number, probe?: Probe): tf.Tensor2D {
  switch (c.family) {
    case 'gpt2':
      return gpt2Forward(c, p, ids, B, T, probe)
    case 'llama':
      return llamaForward(c, p, ids, B, T, probe)
    case 'bert':
      return bertForward(c, p, ids, B, T, probe)
  }
}

/**
 * The training loss of a batch. Call inside tf.tidy. Decoders (gpt2, llama): mean next-token cross-entropy of
 * `targets`. BERT: masked-LM loss over `inputs` (see src/model/bert.ts for the masking rule; `targets` unused).
 */
export function lossOf(c: ModelConfig, p: Params, inputs: Int32Array, targets: Int32Array, B: number, T: number): tf.Scalar {
  switch (c.family) {
    case 'gpt2':
      return gpt2Loss(c, p, inputs, targets, B, T)
    case 'llama':
      return llamaLoss(c, p, inputs, targets, B, T)
    case 'bert':
      return bertLoss(c, p, inputs, targets, B, T)
  }
}

/** The longest context the model accepts. */
export function contextLength(c: ModelConfig): number {
  return c.n_positions
}
