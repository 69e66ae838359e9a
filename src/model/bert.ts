/**
 * BERT encoder with its masked-LM head: word + position + token-type embeddings followed by a LayerNorm,
 * post-LayerNorm blocks of bidirectional self-attention and an exact-GELU MLP, and the MLM head (a dense layer,
 * GELU, LayerNorm, then a decoder tied to the word embeddings plus an output bias).
 * References: Devlin et al. 2019; Hugging Face's modeling_bert.py (BertForMaskedLM).
 *
 * Tensor names are BertForMaskedLM's own (`bert.encoder.layer.3.attention.self.query.weight`), so the HF mapping
 * is the identity plus the transposes of the linear weights (ours are stored (in, out), y = x·W; HF's nn.Linear
 * stores (out, in)). Every sequence is one segment: token type 0 throughout.
 *
 * Masked-LM objective (`bertLoss`), deterministic so that a batch always gives the same loss: position t of a row
 * holding token id x is masked when counterUnit(MLM_SALT, t, x) < mask_prob (a SplitMix64 hash of the position
 * within the row and the token, src/data/rng.ts); if no position of the batch is picked, the one with the smallest
 * hash is. Masked positions are replaced by mask_id (always: no 80/10/10 split) and the loss is the mean
 * cross-entropy of the original ids at the masked positions. The `targets` of the batch are not used: the model
 * predicts its own inputs. Because the rule reads the token, whether a position is masked carries a little
 * information about what was there; the rule is for training and comparing runs, not a faithful MLM benchmark.
 *
 * Shapes: B batch, T time, C d_model, NH heads, HS head size, A = NH·HS, F d_ffn, V vocab, P n_positions, M masked.
 */
import * as tf from '@tensorflow/tfjs-core'

import {crossEntropy, embedding, layerNorm, linear} from '../compute/ops.js'
import {bidirectionalAttention, geluErf} from '../compute/ops-extra.js'
import {counterUnit} from '../data/rng.js'
import {forwardMultipliers} from '../mup/rules.js'
import {Fields} from '../validate.js'
import {MUP_KEYS, type MupFields, readMupFields} from './llama.js'
import type {Probe} from './gpt2.js'
import type {ParamSpec, Schema, Space} from './schema.js'

export interface BertConfig extends MupFields {
  family: 'bert'
  vocab_size: number
  /** Size of the position table (HF max_position_embeddings). */
  n_positions: number
  /** Token types (segments); only type 0 is used by forward, the table is kept for HF interop. */
  type_vocab_size: number
  n_layer: number
  d_model: number
  n_head: number
  head_size: number
  d_ffn: number
  /** The MLM decoder reuses the word embeddings (BERT's default); false gives it its own matrix. */
  tie_embeddings: boolean
  layer_norm_eps: number
  init_std: number
  /** The id that replaces masked positions ([MASK]); default vocab_size - 1. */
  mask_id: number
  /** Fraction of positions the masked-LM loss masks. */
  mask_prob: number
}

export const BERT_KEYS = [
  'family', 'vocab_size', 'n_positions', 'type_vocab_size', 'n_layer', 'd_model', 'n_head', 'head_size', 'd_ffn',
  'tie_embeddings', 'layer_norm_eps', 'init_std', 'mask_id', 'mask_prob', ...MUP_KEYS,
] as const

/** A constant word of the masking hash, so that it draws independently of other users of counterUnit. */
export const MLM_SALT = 0x6d6c6d

/** Reads and validates a BERT config; head_size defaults to d_model/n_head and d_ffn to 4·d_model. */
export function bertConfig(raw: unknown, source?: string, prefix = 'model'): BertConfig {
  const f = Fields.of(raw, prefix, source)
  f.rejectUnknown(BERT_KEYS)
  f.oneOf('family', ['bert'] as const, 'bert')
  const d_model = f.int('d_model', 128, {min: 1, max: 65536})
  const n_head = f.int('n_head', 4, {min: 1, max: 4096})
  if (!f.has('head_size') && d_model % n_head !== 0)
    throw f.err('n_head', n_head, `a divisor of d_model (${d_model}), or set head_size explicitly`)
  const vocab_size = f.int('vocab_size', 256, {min: 2, max: 1 << 24})
  const head_size = f.int('head_size', d_model / n_head, {min: 1, max: 65536})
  const d_ffn = f.int('d_ffn', 4 * d_model, {min: 1, max: 1 << 20})
  return {
    family: 'bert',
    vocab_size,
    n_positions: f.int('n_positions', 128, {min: 1, max: 1 << 20}),
    type_vocab_size: f.int('type_vocab_size', 2, {min: 1, max: 1 << 16}),
    n_layer: f.int('n_layer', 4, {min: 1, max: 1024}),
    d_model,
    n_head,
    head_size,
    d_ffn,
    tie_embeddings: f.bool('tie_embeddings', true),
    layer_norm_eps: f.num('layer_norm_eps', 1e-12, {gt: 0, max: 1}),
    init_std: f.num('init_std', 0.02, {gt: 0, max: 10}),
    mask_id: f.int('mask_id', vocab_size - 1, {min: 0, max: vocab_size - 1}),
    mask_prob: f.num('mask_prob', 0.15, {gt: 0, max: 1}),
    ...readMupFields(f, {d_model, n_head, head_size, d_ffn}, 'bert'),
  }
}

/** The parameter table, in a fixed order (HF's module order). */
export function bertSchema(c: BertConfig): Schema {
  const A = c.n_head * c.head_size
  const std = c.init_std
  const out: ParamSpec[] = []
  const add = (
    name: string, layer: number | null, shape: number[], spaces: Space[], role: ParamSpec['role'], init: ParamSpec['init'],
  ) => out.push({name: layer === null ? name : `bert.encoder.layer.${layer}.${name}`, layer, module: name, shape, spaces, role, init})
  const norm = (name: string, layer: number | null) => {
    add(`${name}.weight`, layer, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
    add(`${name}.bias`, layer, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
  }
  const dense = (name: string, layer: number | null, from: Space, to: Space, n: number, m: number) => {
    add(`${name}.weight`, layer, [n, m], [from, to], 'hidden', {kind: 'normal', std})
    add(`${name}.bias`, layer, [m], [to], 'bias', {kind: 'zeros'})
  }

  add('bert.embeddings.word_embeddings.weight', null, [c.vocab_size, c.d_model], ['vocab', 'resid'], 'embedding', {kind: 'normal', std})
  add('bert.embeddings.position_embeddings.weight', null, [c.n_positions, c.d_model], ['pos', 'resid'], 'embedding', {kind: 'normal', std})
  // Token types are a tiny vocabulary: 'vocab' marks the dimension as not width-like.
  add('bert.embeddings.token_type_embeddings.weight', null, [c.type_vocab_size, c.d_model], ['vocab', 'resid'], 'embedding', {kind: 'normal', std})
  norm('bert.embeddings.LayerNorm', null)
  for (let l = 0; l < c.n_layer; l++) {
    dense('attention.self.query', l, 'resid', 'q', c.d_model, A)
    dense('attention.self.key', l, 'resid', 'k', c.d_model, A)
    dense('attention.self.value', l, 'resid', 'v', c.d_model, A)
    dense('attention.output.dense', l, 'v', 'resid', A, c.d_model)
    norm('attention.output.LayerNorm', l)
    dense('intermediate.dense', l, 'resid', 'ffn', c.d_model, c.d_ffn)
    dense('output.dense', l, 'ffn', 'resid', c.d_ffn, c.d_model)
    norm('output.LayerNorm', l)
  }
  dense('cls.predictions.transform.dense', null, 'resid', 'resid', c.d_model, c.d_model)
  norm('cls.predictions.transform.LayerNorm', null)
  if (!c.tie_embeddings) add('cls.predictions.decoder.weight', null, [c.d_model, c.vocab_size], ['resid', 'vocab'], 'readout', {kind: 'normal', std})
  add('cls.predictions.bias', null, [c.vocab_size], ['vocab'], 'bias', {kind: 'zeros'})
  return out
}

/** Encoder output [B·T, C] for ids [B,T] (token type 0, positions 0..T-1). Call inside tf.tidy. */
function encode(c: BertConfig, p: Map<string, tf.Tensor>, ids: Int32Array, B: number, T: number, probe?: Probe): tf.Tensor2D {
  if (T > c.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${c.n_positions}`)
  const N = B * T
  const {n_head: NH, head_size: HS} = c
  const eps = c.layer_norm_eps
  const mult = forwardMultipliers(c) // all 1 (and attention 1/√HS) for SP with α = 1
  const get = <R extends tf.Rank>(name: string) => p.get(name) as tf.Tensor<R>
  const pos = new Int32Array(N)
  for (let i = 0; i < N; i++) pos[i] = i % T
  const heads = (y: tf.Tensor2D) => tf.transpose(tf.reshape(y, [B, T, NH, HS]), [0, 2, 1, 3]) as tf.Tensor4D // [B,NH,T,HS]

  const emb = tf.add(
    tf.add(embedding(get('bert.embeddings.word_embeddings.weight'), tf.tensor1d(ids, 'int32')), embedding(get('bert.embeddings.position_embeddings.weight'), tf.tensor1d(pos, 'int32'))),
    tf.slice(get<tf.Rank.R2>('bert.embeddings.token_type_embeddings.weight'), [0, 0], [1, c.d_model]), // type 0 broadcast over rows
  ) as tf.Tensor2D
  let x = layerNorm(mult.input === 1 ? emb : tf.mul(emb, mult.input), get('bert.embeddings.LayerNorm.weight'), get('bert.embeddings.LayerNorm.bias'), eps)
  probe?.('embed', x)
  for (let l = 0; l < c.n_layer; l++) {
    const t = <R extends tf.Rank>(n: string) => get<R>(`bert.encoder.layer.${l}.${n}`)
    const dense = (h: tf.Tensor2D, n: string) => linear(h, t(`${n}.weight`), t(`${n}.bias`))
    const q = heads(dense(x, 'attention.self.query'))
    const k = heads(dense(x, 'attention.self.key'))
    const v = heads(dense(x, 'attention.self.value'))
    if (probe) probe(`bert.encoder.layer.${l}.attn_logits`, tf.mul(tf.matMul(q, k, false, true), mult.attention)) // [B,NH,T,T]
    const a = bidirectionalAttention(q, k, v, mult.attention) // [B,NH,T,HS]
    const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [N, NH * HS]) as tf.Tensor2D
    x = layerNorm(tf.add(dense(merged, 'attention.output.dense'), x), t('attention.output.LayerNorm.weight'), t('attention.output.LayerNorm.bias'), eps)
    const f = geluErf(dense(x, 'intermediate.dense')) // [N,F]
    x = layerNorm(tf.add(dense(f, 'output.dense'), x), t('output.LayerNorm.weight'), t('output.LayerNorm.bias'), eps)
    probe?.(`bert.encoder.layer.${l}.out`, x)
  }
  return x
}

/** The MLM head on hidden rows h[M,C] → logits [M,V]. */
function mlmHead(c: BertConfig, p: Map<string, tf.Tensor>, h: tf.Tensor2D): tf.Tensor2D {
  const get = <R extends tf.Rank>(name: string) => p.get(name) as tf.Tensor<R>
  const z = geluErf(linear(h, get('cls.predictions.transform.dense.weight'), get('cls.predictions.transform.dense.bias')))
  const n = layerNorm(z, get('cls.predictions.transform.LayerNorm.weight'), get('cls.predictions.transform.LayerNorm.bias'), c.layer_norm_eps)
  const mult = forwardMultipliers(c).readout // µP readout α_out/m, before the output bias
  let logits = c.tie_embeddings
    ? tf.matMul(n, get<tf.Rank.R2>('bert.embeddings.word_embeddings.weight'), false, true) // [M,C]·[V,C]ᵀ
    : tf.matMul(n, get<tf.Rank.R2>('cls.predictions.decoder.weight'))
  if (mult !== 1) logits = tf.mul(logits, mult)
  return tf.add(logits, get('cls.predictions.bias')) as tf.Tensor2D
}

/**
 * MLM logits at every position of ids [B,T] (nothing masked): returns [B·T, V]. Call inside tf.tidy. `probe`
 * sees embed (after the embedding LayerNorm), bert.encoder.layer.<l>.attn_logits and .out, and logits.
 */
export function bertForward(c: BertConfig, p: Map<string, tf.Tensor>, ids: Int32Array, B: number, T: number, probe?: Probe): tf.Tensor2D {
  const logits = mlmHead(c, p, encode(c, p, ids, B, T, probe))
  probe?.('logits', logits)
  return logits
}

/** The masked positions of a batch [B,T] under the rule in the header (flat indices, ascending). */
export function mlmMask(c: BertConfig, ids: Int32Array, T: number): number[] {
  const picked: number[] = []
  let best = 0
  let bestU = Infinity
  for (let i = 0; i < ids.length; i++) {
    const u = counterUnit(MLM_SALT, i % T, ids[i])
    if (u < c.mask_prob) picked.push(i)
    if (u < bestU) [best, bestU] = [i, u]
  }
  return picked.length > 0 ? picked : [best]
}

/** Masked-LM loss of a batch (the rule in the header); `targets` is unused. Call inside tf.tidy. */
export function bertLoss(c: BertConfig, p: Map<string, tf.Tensor>, inputs: Int32Array, _targets: Int32Array, B: number, T: number): tf.Scalar {
  const masked = mlmMask(c, inputs, T)
  const corrupted = Int32Array.from(inputs)
  for (const i of masked) corrupted[i] = c.mask_id
  const h = encode(c, p, corrupted, B, T) // [N,C]
  // Row gather through the embedding op: its gradient scatters back on every backend.
  const hm = embedding(h, tf.tensor1d(Int32Array.from(masked), 'int32')) // [M,C]
  return crossEntropy(mlmHead(c, p, hm), tf.tensor1d(Int32Array.from(masked, (i) => inputs[i]), 'int32'))
}
