/**
 * GPT-2-style decoder: learned token and position embeddings, pre-LayerNorm blocks of causal self-attention and
 * a GELU MLP, a final LayerNorm, and a readout tied to the token embedding (or its own matrix).
 * References: Radford et al. 2019; nanoGPT's model.py; Hugging Face's modeling_gpt2.py.
 *
 * Weights are stored (in, out) as GPT-2's Conv1D stores them, so y = x·W. Unlike HF's fused `c_attn`, the
 * query, key and value projections are separate tensors (their output spaces grow independently under LiGO);
 * the HF mapping splits and joins them.
 *
 * Shapes: B batch, T time, C d_model, NH heads, HS head size, A = NH·HS, F d_ffn, V vocab, P n_positions.
 */
import * as tf from '@tensorflow/tfjs-core'

import {causalAttention, crossEntropy, embedding, gelu, layerNorm, linear} from '../compute/ops.js'
import {type Parametrization, PARAMETRIZATIONS, forwardMultipliers} from '../mup/rules.js'
import {Fields} from '../validate.js'
import type {ParamSpec, Schema, Space} from './schema.js'

export interface Gpt2Config {
  family: 'gpt2'
  vocab_size: number
  /** Longest sequence the position table holds. */
  n_positions: number
  n_layer: number
  d_model: number
  n_head: number
  head_size: number
  d_ffn: number
  tie_embeddings: boolean
  layer_norm_eps: number
  /** Std of the normal init of matrices; residual output projections get init_std/√(2·n_layer). */
  init_std: number
  /**
   * 'sp' (standard) or 'mup' (µP, src/mup/rules.ts). Under µP the base shapes below anchor the width
   * multipliers m = width/base; at m = 1 and α = 1 µP is SP exactly. A grown model keeps its base shapes and α's.
   */
  param: Parametrization
  /** µP base shapes (default: the model's own, m = 1). The attention space's base is base_n_head·base_head_size. */
  base_d_model: number
  base_n_head: number
  base_head_size: number
  base_d_ffn: number
  /** Forward multipliers: on the embedding sum, on the logits (µP: α_out/m), on qᵀk (µP: α_attn·√HS₀/HS). */
  alpha_in: number
  alpha_out: number
  alpha_attn: number
  /** Initialise the query projections to zero (TP5 App. D.2). */
  zero_query: boolean
}

export const GPT2_KEYS = [
  'family', 'vocab_size', 'n_positions', 'n_layer', 'd_model', 'n_head', 'head_size', 'd_ffn',
  'tie_embeddings', 'layer_norm_eps', 'init_std',
  'param', 'base_d_model', 'base_n_head', 'base_head_size', 'base_d_ffn', 'alpha_in', 'alpha_out', 'alpha_attn', 'zero_query',
] as const

/** Reads and validates a GPT-2 config; head_size defaults to d_model/n_head and d_ffn to 4·d_model. */
export function gpt2Config(raw: unknown, source?: string, prefix = 'model'): Gpt2Config {
  const f = Fields.of(raw, prefix, source)
  f.rejectUnknown(GPT2_KEYS)
  f.oneOf('family', ['gpt2'] as const, 'gpt2')
  const d_model = f.int('d_model', 128, {min: 1, max: 65536})
  const n_head = f.int('n_head', 4, {min: 1, max: 4096})
  if (!f.has('head_size') && d_model % n_head !== 0)
    throw f.err('n_head', n_head, `a divisor of d_model (${d_model}), or set head_size explicitly`)
  const cfg: Gpt2Config = {
    family: 'gpt2',
    vocab_size: f.int('vocab_size', 256, {min: 2, max: 1 << 24}),
    n_positions: f.int('n_positions', 128, {min: 1, max: 1 << 20}),
    n_layer: f.int('n_layer', 4, {min: 1, max: 1024}),
    d_model,
    n_head,
    head_size: f.int('head_size', d_model / n_head, {min: 1, max: 65536}),
    d_ffn: f.int('d_ffn', 4 * d_model, {min: 1, max: 1 << 20}),
    tie_embeddings: f.bool('tie_embeddings', true),
    layer_norm_eps: f.num('layer_norm_eps', 1e-5, {gt: 0, max: 1}),
    init_std: f.num('init_std', 0.02, {gt: 0, max: 10}),
    param: f.oneOf('param', PARAMETRIZATIONS, 'sp'),
    base_d_model: 0,
    base_n_head: 0,
    base_head_size: 0,
    base_d_ffn: 0,
    alpha_in: f.num('alpha_in', 1, {gt: 0, max: 1e6}),
    alpha_out: f.num('alpha_out', 1, {gt: 0, max: 1e6}),
    alpha_attn: f.num('alpha_attn', 1, {gt: 0, max: 1e6}),
    zero_query: f.bool('zero_query', false),
  }
  cfg.base_d_model = f.int('base_d_model', cfg.d_model, {min: 1, max: 65536})
  cfg.base_n_head = f.int('base_n_head', cfg.n_head, {min: 1, max: 4096})
  cfg.base_head_size = f.int('base_head_size', cfg.head_size, {min: 1, max: 65536})
  cfg.base_d_ffn = f.int('base_d_ffn', cfg.d_ffn, {min: 1, max: 1 << 20})
  return cfg
}

/** The parameter table, in a fixed order. */
export function gpt2Schema(c: Gpt2Config): Schema {
  const A = c.n_head * c.head_size
  const std = c.init_std
  const residStd = c.init_std / Math.sqrt(2 * c.n_layer)
  const out: ParamSpec[] = []
  const add = (
    name: string, layer: number | null, shape: number[], spaces: Space[], role: ParamSpec['role'], init: ParamSpec['init'],
  ) => out.push({name: layer === null ? name : `h.${layer}.${name}`, layer, module: name, shape, spaces, role, init})

  add('wte.weight', null, [c.vocab_size, c.d_model], ['vocab', 'resid'], 'embedding', {kind: 'normal', std})
  add('wpe.weight', null, [c.n_positions, c.d_model], ['pos', 'resid'], 'embedding', {kind: 'normal', std: std / 2})
  for (let l = 0; l < c.n_layer; l++) {
    add('ln_1.weight', l, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
    add('ln_1.bias', l, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
    for (const s of ['q', 'k', 'v'] as const) {
      add(`attn.${s}_proj.weight`, l, [c.d_model, A], ['resid', s], 'hidden', {kind: 'normal', std})
      add(`attn.${s}_proj.bias`, l, [A], [s], 'bias', {kind: 'zeros'})
    }
    add('attn.c_proj.weight', l, [A, c.d_model], ['v', 'resid'], 'hidden', {kind: 'normal', std: residStd})
    add('attn.c_proj.bias', l, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
    add('ln_2.weight', l, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
    add('ln_2.bias', l, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
    add('mlp.c_fc.weight', l, [c.d_model, c.d_ffn], ['resid', 'ffn'], 'hidden', {kind: 'normal', std})
    add('mlp.c_fc.bias', l, [c.d_ffn], ['ffn'], 'bias', {kind: 'zeros'})
    add('mlp.c_proj.weight', l, [c.d_ffn, c.d_model], ['ffn', 'resid'], 'hidden', {kind: 'normal', std: residStd})
    add('mlp.c_proj.bias', l, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
  }
  add('ln_f.weight', null, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
  add('ln_f.bias', null, [c.d_model], ['resid'], 'bias', {kind: 'zeros'})
  if (!c.tie_embeddings) add('lm_head.weight', null, [c.d_model, c.vocab_size], ['resid', 'vocab'], 'readout', {kind: 'normal', std})
  return out
}

export type Params = Map<string, tf.Tensor>

/**
 * Receives named intermediate tensors of a forward pass (for coordinate checks): `embed` [N,C], per block
 * `h.<l>.attn_logits` [B,NH,T,T] (scaled qᵀk before the mask; computed only when probing) and `h.<l>.out` [N,C]
 * (the residual stream after the block), and `logits` [N,V]. The tensors belong to the caller's tf.tidy.
 */
export type Probe = (name: string, t: tf.Tensor) => void

/**
 * Logits for token ids [B,T] (row-major Int32Array): returns [B·T, V]. Call inside tf.tidy.
 */
export function gpt2Forward(c: Gpt2Config, p: Params, ids: Int32Array, B: number, T: number, probe?: Probe): tf.Tensor2D {
  if (T > c.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${c.n_positions}`)
  const N = B * T
  const C = c.d_model
  const NH = c.n_head
  const HS = c.head_size
  const mult = forwardMultipliers(c) // all 1 (skipped) for SP with α = 1
  const get = <R extends tf.Rank>(name: string) => p.get(name) as tf.Tensor<R>
  const pos = new Int32Array(N)
  for (let i = 0; i < N; i++) pos[i] = i % T

  // x[N,C] = α_in·(wte[ids] + wpe[pos])
  let x = tf.add(
    embedding(get('wte.weight'), tf.tensor1d(ids, 'int32')),
    embedding(get('wpe.weight'), tf.tensor1d(pos, 'int32')),
  ) as tf.Tensor2D
  if (mult.input !== 1) x = tf.mul(x, mult.input)
  probe?.('embed', x)
  const heads = (y: tf.Tensor2D) => tf.transpose(tf.reshape(y, [B, T, NH, HS]), [0, 2, 1, 3]) as tf.Tensor4D // [B,NH,T,HS]
  for (let l = 0; l < c.n_layer; l++) {
    const w = (n: string) => get<tf.Rank.R2>(`h.${l}.${n}`)
    const b = (n: string) => get<tf.Rank.R1>(`h.${l}.${n}`)
    const h = layerNorm(x, b('ln_1.weight'), b('ln_1.bias'), c.layer_norm_eps)
    const q = heads(linear(h, w('attn.q_proj.weight'), b('attn.q_proj.bias')))
    const k = heads(linear(h, w('attn.k_proj.weight'), b('attn.k_proj.bias')))
    const v = heads(linear(h, w('attn.v_proj.weight'), b('attn.v_proj.bias')))
    if (probe) probe(`h.${l}.attn_logits`, tf.mul(tf.matMul(q, k, false, true), mult.attention)) // [B,NH,T,T]
    const a = causalAttention(q, k, v, mult.attention) // [B,NH,T,HS]
    const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [N, NH * HS]) as tf.Tensor2D
    x = tf.add(x, linear(merged, w('attn.c_proj.weight'), b('attn.c_proj.bias')))
    const h2 = layerNorm(x, b('ln_2.weight'), b('ln_2.bias'), c.layer_norm_eps)
    const f = gelu(linear(h2, w('mlp.c_fc.weight'), b('mlp.c_fc.bias')))
    x = tf.add(x, linear(f, w('mlp.c_proj.weight'), b('mlp.c_proj.bias')))
    probe?.(`h.${l}.out`, x)
  }
  x = layerNorm(x, get('ln_f.weight'), get('ln_f.bias'), c.layer_norm_eps)
  let logits = c.tie_embeddings
    ? (tf.matMul(x, get<tf.Rank.R2>('wte.weight'), false, true) as tf.Tensor2D) // [N,C]·[V,C]ᵀ
    : linear(x, get<tf.Rank.R2>('lm_head.weight'))
  // µP readout multiplier α_out/m, on the logits whether the head is tied or not (research notes §1.3, §1.8.4).
  if (mult.readout !== 1) logits = tf.mul(logits, mult.readout)
  probe?.('logits', logits)
  return logits
}

/** Mean next-token cross-entropy of a batch: inputs and targets are [B,T] row-major. Call inside tf.tidy. */
export function gpt2Loss(c: Gpt2Config, p: Params, inputs: Int32Array, targets: Int32Array, B: number, T: number): tf.Scalar {
  const logits = gpt2Forward(c, p, inputs, B, T)
  return crossEntropy(logits, tf.tensor1d(targets, 'int32'))
}
