/**
 * Llama-style decoder: a token embedding, pre-RMSNorm blocks of causal self-attention with rotary positions and
 * grouped key/value heads, a SwiGLU MLP, a final RMSNorm, and an untied readout (tying is an option).
 * References: Touvron et al. 2023; Hugging Face's modeling_llama.py (rotate_half convention, repeat_kv).
 *
 * Tensor names are HF's own (`model.layers.3.self_attn.q_proj.weight`), so the HF mapping is the identity plus
 * the transposes of the linear weights: ours are stored (in, out) like the rest of the project (y = x·W), HF's
 * nn.Linear stores (out, in). The `config.json` keys map one to one (see src/model/hf.ts).
 *
 * Shapes: B batch, T time, C d_model, NH query heads, NKV key/value heads, HS head size, F d_ffn, V vocab.
 * Attention spaces: `q` is the query projection's output [NH·HS]; `k` and `v` the key and value projections'
 * outputs [NKV·HS] — with grouped KV heads (NKV < NH) they have fewer heads than `q`. o_proj reads the attention
 * output: NH heads each carrying its group's value head; its input space is `v` when NKV = NH (as GPT-2's
 * c_proj) and `q` (the NH·HS head layout) when heads are grouped.
 */
import * as tf from '@tensorflow/tfjs-core'

import {causalAttention, crossEntropy, embedding, linear} from '../compute/ops.js'
import {repeatKv, rmsNorm, ropeTables, rotary, swiglu} from '../compute/ops-extra.js'
import {type Parametrization, PARAMETRIZATIONS, forwardMultipliers} from '../mup/rules.js'
import {Fields} from '../validate.js'
import type {Probe} from './gpt2.js'
import {type MsgState, blendBlock, msgForward, readMsg, weightedRmsNorm} from './msg.js'
import type {ParamSpec, Schema, Space} from './schema.js'

/**
 * The µP fields every family carries, with gpt2.ts's keys, defaults and meaning (src/mup/rules.ts): the
 * parametrization, the base shapes (default: the model's own, m = 1) and the forward multipliers α.
 */
export interface MupFields {
  param: Parametrization
  base_d_model: number
  base_n_head: number
  base_head_size: number
  base_d_ffn: number
  alpha_in: number
  alpha_out: number
  alpha_attn: number
  /** Initialise the query projections to zero: only gpt2 supports it so far (src/mup/index.ts matches its module name). */
  zero_query: boolean
}

export const MUP_KEYS = ['param', 'base_d_model', 'base_n_head', 'base_head_size', 'base_d_ffn', 'alpha_in', 'alpha_out', 'alpha_attn', 'zero_query'] as const

/** Reads the µP fields of a family config whose widths are already validated. */
export function readMupFields(f: Fields, c: {d_model: number; n_head: number; head_size: number; d_ffn: number}, family: string): MupFields {
  if (f.bool('zero_query', false)) throw f.err('zero_query', true, `false (zero-initialised queries are supported for gpt2 only, not ${family})`)
  return {
    param: f.oneOf('param', PARAMETRIZATIONS, 'sp'),
    base_d_model: f.int('base_d_model', c.d_model, {min: 1, max: 65536}),
    base_n_head: f.int('base_n_head', c.n_head, {min: 1, max: 4096}),
    base_head_size: f.int('base_head_size', c.head_size, {min: 1, max: 65536}),
    base_d_ffn: f.int('base_d_ffn', c.d_ffn, {min: 1, max: 1 << 20}),
    alpha_in: f.num('alpha_in', 1, {gt: 0, max: 1e6}),
    alpha_out: f.num('alpha_out', 1, {gt: 0, max: 1e6}),
    alpha_attn: f.num('alpha_attn', 1, {gt: 0, max: 1e6}),
    zero_query: false,
  }
}

export interface LlamaConfig extends MupFields {
  family: 'llama'
  vocab_size: number
  /** Longest sequence accepted (HF max_position_embeddings); positions are rotary, there is no table. */
  n_positions: number
  n_layer: number
  d_model: number
  /** Query heads. */
  n_head: number
  /** Key/value heads (grouped-query attention); divides n_head. Equal to n_head is plain multi-head attention. */
  n_kv_head: number
  /** Even (rotary pairs the two halves of each head). */
  head_size: number
  d_ffn: number
  /** Llama ties nothing by default. */
  tie_embeddings: boolean
  rms_norm_eps: number
  /** Base of the rotary frequencies θ_i = rope_theta^(-2i/HS). */
  rope_theta: number
  /** Std of the normal init of matrices; residual output projections get init_std/√(2·n_layer). */
  init_std: number
  /** A model grown by MSG whose masks still ramp (src/model/msg.ts); absent otherwise. */
  msg?: MsgState
}

export const LLAMA_KEYS = [
  'family', 'vocab_size', 'n_positions', 'n_layer', 'd_model', 'n_head', 'n_kv_head', 'head_size', 'd_ffn',
  'tie_embeddings', 'rms_norm_eps', 'rope_theta', 'init_std', ...MUP_KEYS, 'msg',
] as const

/**
 * Reads and validates a Llama config. Defaults: head_size d_model/n_head, n_kv_head n_head, d_ffn ≈ 8/3·d_model
 * rounded up to a multiple of 8 (the SwiGLU MLP's parameter count then matches a 4·d_model GELU MLP).
 */
export function llamaConfig(raw: unknown, source?: string, prefix = 'model'): LlamaConfig {
  const f = Fields.of(raw, prefix, source)
  f.rejectUnknown(LLAMA_KEYS)
  f.oneOf('family', ['llama'] as const, 'llama')
  const d_model = f.int('d_model', 128, {min: 1, max: 65536})
  const n_head = f.int('n_head', 4, {min: 1, max: 4096})
  if (!f.has('head_size') && d_model % n_head !== 0)
    throw f.err('n_head', n_head, `a divisor of d_model (${d_model}), or set head_size explicitly`)
  const head_size = f.int('head_size', d_model / n_head, {min: 2, max: 65536})
  if (head_size % 2 !== 0) throw f.err('head_size', head_size, 'an even number (rotary embeddings rotate pairs of dimensions)')
  const n_kv_head = f.int('n_kv_head', n_head, {min: 1, max: n_head})
  if (n_head % n_kv_head !== 0) throw f.err('n_kv_head', n_kv_head, `a divisor of n_head (${n_head})`)
  const d_ffn = f.int('d_ffn', 8 * Math.ceil(d_model / 3), {min: 1, max: 1 << 20})
  const n_layer = f.int('n_layer', 4, {min: 1, max: 1024})
  const msg = readMsg(f, {n_layer, d_model, n_head, n_kv_head, head_size, d_ffn})
  return {
    family: 'llama',
    vocab_size: f.int('vocab_size', 256, {min: 2, max: 1 << 24}),
    n_positions: f.int('n_positions', 128, {min: 1, max: 1 << 24}),
    n_layer,
    d_model,
    n_head,
    n_kv_head,
    head_size,
    d_ffn,
    tie_embeddings: f.bool('tie_embeddings', false),
    rms_norm_eps: f.num('rms_norm_eps', 1e-6, {gt: 0, max: 1}),
    rope_theta: f.num('rope_theta', 10000, {gt: 1}),
    init_std: f.num('init_std', 0.02, {gt: 0, max: 10}),
    ...readMupFields(f, {d_model, n_head, head_size, d_ffn}, 'llama'),
    ...(msg ? {msg} : {}),
  }
}

/** The parameter table, in a fixed order (HF's module order). */
export function llamaSchema(c: LlamaConfig): Schema {
  const Aq = c.n_head * c.head_size
  const Akv = c.n_kv_head * c.head_size
  const std = c.init_std
  const residStd = c.init_std / Math.sqrt(2 * c.n_layer)
  const out: ParamSpec[] = []
  const add = (
    name: string, layer: number | null, shape: number[], spaces: Space[], role: ParamSpec['role'], init: ParamSpec['init'],
  ) => out.push({name: layer === null ? name : `model.layers.${layer}.${name}`, layer, module: name, shape, spaces, role, init})

  add('model.embed_tokens.weight', null, [c.vocab_size, c.d_model], ['vocab', 'resid'], 'embedding', {kind: 'normal', std})
  for (let l = 0; l < c.n_layer; l++) {
    add('input_layernorm.weight', l, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
    add('self_attn.q_proj.weight', l, [c.d_model, Aq], ['resid', 'q'], 'hidden', {kind: 'normal', std})
    add('self_attn.k_proj.weight', l, [c.d_model, Akv], ['resid', 'k'], 'hidden', {kind: 'normal', std})
    add('self_attn.v_proj.weight', l, [c.d_model, Akv], ['resid', 'v'], 'hidden', {kind: 'normal', std})
    const oIn: Space = c.n_kv_head === c.n_head ? 'v' : 'q'
    add('self_attn.o_proj.weight', l, [Aq, c.d_model], [oIn, 'resid'], 'hidden', {kind: 'normal', std: residStd})
    add('post_attention_layernorm.weight', l, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
    add('mlp.gate_proj.weight', l, [c.d_model, c.d_ffn], ['resid', 'ffn'], 'hidden', {kind: 'normal', std})
    add('mlp.up_proj.weight', l, [c.d_model, c.d_ffn], ['resid', 'ffn'], 'hidden', {kind: 'normal', std})
    add('mlp.down_proj.weight', l, [c.d_ffn, c.d_model], ['ffn', 'resid'], 'hidden', {kind: 'normal', std: residStd})
  }
  add('model.norm.weight', null, [c.d_model], ['resid'], 'gain', {kind: 'ones'})
  if (!c.tie_embeddings) add('lm_head.weight', null, [c.d_model, c.vocab_size], ['resid', 'vocab'], 'readout', {kind: 'normal', std})
  return out
}

/**
 * Logits for token ids [B,T] (row-major Int32Array): returns [B·T, V]. Call inside tf.tidy. `probe` sees the
 * same named intermediates as gpt2Forward's (embed, h.<l>.attn_logits, h.<l>.out, logits).
 */
export function llamaForward(c: LlamaConfig, p: Map<string, tf.Tensor>, ids: Int32Array, B: number, T: number, probe?: Probe): tf.Tensor2D {
  if (T > c.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${c.n_positions}`)
  const N = B * T
  const {n_head: NH, n_kv_head: NKV, head_size: HS} = c
  const mult = forwardMultipliers(c) // all 1 (and attention 1/√HS) for SP with α = 1
  // MSG: a grown model whose masks still ramp (src/model/msg.ts): masked weights, weighted norms, blended blocks.
  const msg = msgForward(c, llamaSchema(c), p)
  const head = p.get(c.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight') as tf.Tensor2D // the readout is never masked
  if (msg) p = msg.params
  const norm = (x: tf.Tensor2D, g: tf.Tensor1D) => (msg?.resid ? weightedRmsNorm(x, g, c.rms_norm_eps, msg.resid, msg.residSum) : rmsNorm(x, g, c.rms_norm_eps))
  const get = <R extends tf.Rank>(name: string) => p.get(name) as tf.Tensor<R>
  const {cos, sin} = ropeTables(T, HS, c.rope_theta) // [T,HS]
  const heads = (y: tf.Tensor2D, H: number) => tf.transpose(tf.reshape(y, [B, T, H, HS]), [0, 2, 1, 3]) as tf.Tensor4D // [B,H,T,HS]

  let x = embedding(get('model.embed_tokens.weight'), tf.tensor1d(ids, 'int32')) // [N,C]
  if (mult.input !== 1) x = tf.mul(x, mult.input)
  probe?.('embed', x)
  for (let l = 0; l < c.n_layer; l++) {
    const w = (n: string) => get<tf.Rank.R2>(`model.layers.${l}.${n}`)
    const g = (n: string) => get<tf.Rank.R1>(`model.layers.${l}.${n}`)
    const x0 = x
    const h = norm(x, g('input_layernorm.weight'))
    const q = rotary(heads(linear(h, w('self_attn.q_proj.weight')), NH), cos, sin)
    const k = rotary(heads(linear(h, w('self_attn.k_proj.weight')), NKV), cos, sin)
    const v = heads(linear(h, w('self_attn.v_proj.weight')), NKV)
    const [kr, vr] = [repeatKv(k, NH / NKV), repeatKv(v, NH / NKV)] // [B,NH,T,HS]
    if (probe) probe(`model.layers.${l}.attn_logits`, tf.mul(tf.matMul(q, kr, false, true), mult.attention)) // [B,NH,T,T]
    const a = causalAttention(q, kr, vr, mult.attention) // [B,NH,T,HS]
    const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [N, NH * HS]) as tf.Tensor2D
    x = tf.add(x, linear(merged, w('self_attn.o_proj.weight')))
    const h2 = norm(x, g('post_attention_layernorm.weight'))
    const f = swiglu(linear(h2, w('mlp.gate_proj.weight')), linear(h2, w('mlp.up_proj.weight'))) // [N,F]
    x = tf.add(x, linear(f, w('mlp.down_proj.weight')))
    const m = msg?.block(l)
    if (m !== undefined) x = blendBlock(x, x0, m) // MSG: a grown block enters as m·block(x) + (1 − m)·x
    probe?.(`model.layers.${l}.out`, x)
  }
  x = norm(x, get('model.norm.weight'))
  const logits = c.tie_embeddings
    ? (tf.matMul(x, head, false, true) as tf.Tensor2D) // [N,C]·[V,C]ᵀ
    : linear(x, head)
  const out = mult.readout === 1 ? logits : (tf.mul(logits, mult.readout) as tf.Tensor2D) // µP readout α_out/m
  probe?.('logits', out)
  return out
}

/** Mean next-token cross-entropy of a batch: inputs and targets are [B,T] row-major. Call inside tf.tidy. */
export function llamaLoss(c: LlamaConfig, p: Map<string, tf.Tensor>, inputs: Int32Array, targets: Int32Array, B: number, T: number): tf.Scalar {
  return crossEntropy(llamaForward(c, p, inputs, B, T), tf.tensor1d(targets, 'int32'))
}
