/**
 * GPT-2-style decoder: learned token and position embeddings, pre-LayerNorm blocks of causal self-attention and
 * a GELU MLP, a final LayerNorm, and a readout tied to the token embedding (or its own matrix).
 * References: Radford et al. 2019; nanoGPT's model.py; Hugging Face's modeling_gpt2.py.
 *
 * Weights are stored (in, out) as GPT-2's Conv1D stores them, so y = x·W. Unlike HF's fused `c_attn`, the
 * query, key and value projections are separate tensors (their output spaces grow independently under LiGO);
 * the HF mapping splits and joins them.
 *
 * Reformer's memory savers (Kitaev et al. 2020) are config switches over the same parameters: reversible blocks
 * (src/model/reversible.ts), chunked FFN and output loss (src/compute/chunked.ts), shared-QK LSH attention
 * (src/compute/lsh.ts). With their defaults the forward pass is the standard one, op for op.
 *
 * Shapes: B batch, T time, C d_model, NH heads, HS head size, A = NH·HS, F d_ffn, V vocab, P n_positions.
 */
import * as tf from '@tensorflow/tfjs-core'

import {type RowFn, chunkedLoss, chunkedRows} from '../compute/chunked.js'
import {type LshPlan, lshAttention, lshGeometry, lshPlan, sharedQkLogits, withZeroGrads} from '../compute/lsh.js'
import {causalAttentionRows, crossEntropy, embedding, gelu, layerNorm, linear} from '../compute/ops.js'
import {type Parametrization, PARAMETRIZATIONS, forwardMultipliers} from '../mup/rules.js'
import {Fields} from '../validate.js'
import {type MsgState, blendBlock, msgForward, readMsg, weightedLayerNorm} from './msg.js'
import {type Branch, type RevMode, type RevOptions, reversibleStack} from './reversible.js'
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
  /*
   * Reformer's memory savers (Kitaev et al. 2020; research notes §4). None changes the parameter set, so
   * checkpoints, LiGO growth and µP work unchanged, and each may be switched on or off for an existing checkpoint.
   */
  /**
   * RevNet blocks on two residual streams, y1 = x1 + Attn(LN1(x2)), y2 = x2 + FFN(LN2(y1)), input x1 = x2 =
   * embedding, output (y1 + y2)/2 before ln_f (src/model/reversible.ts). The backward pass recomputes each
   * block's inputs instead of storing activations: ~1 extra forward per step; activation memory flat in depth but
   * for the anchors that bound float32 drift (both streams every 8 blocks, src/model/reversible.ts).
   * A different function from the standard model with the same weights (the streams are merged by averaging).
   */
  reversible: boolean
  /** Compute each FFN (with its LayerNorm) in this many row chunks, recomputed in backward (1 = off). */
  ffn_chunks: number
  /** Compute the vocabulary projection and cross-entropy in this many row chunks, recomputed in backward (1 = off). */
  loss_chunks: number
  /**
   * 'full' causal attention, or 'lsh': Reformer's shared-QK LSH attention (src/compute/lsh.ts), keys = the
   * normalised queries. Under 'lsh' the key projections attn.k_proj.* stay in the schema (so the parameter set is
   * unchanged) but are unused (`unusedParams`): their gradient is zero, and the trainer's optimizer leaves them out
   * (no state, no weight decay), so switching back to full attention finds them as they were.
   */
  attention: AttentionKind
  /**
   * lsh only: buckets per hash round: 0 (the default) derives them from the length and `lsh_chunk` (trax:
   * 2·⌊T/lsh_chunk⌋, factorised beyond 128), 1 (no hashing) or a fixed even count.
   */
  lsh_buckets: number
  /**
   * lsh only: chunk length (the default 64, as lucidrains' bucket_size); 0 = the paper's 2·T/lsh_buckets, which
   * grows with T (configs saved before this key existed, which fixed the buckets, read as 0).
   */
  lsh_chunk: number
  /** lsh only: hash rounds; more rounds approach full (shared-QK) attention at proportional cost. */
  lsh_hashes: number
  /** A model grown by MSG whose masks still ramp (src/model/msg.ts); absent otherwise. */
  msg?: MsgState
}

export const ATTENTION_KINDS = ['full', 'lsh'] as const
export type AttentionKind = (typeof ATTENTION_KINDS)[number]

export const GPT2_KEYS = [
  'family', 'vocab_size', 'n_positions', 'n_layer', 'd_model', 'n_head', 'head_size', 'd_ffn',
  'tie_embeddings', 'layer_norm_eps', 'init_std',
  'param', 'base_d_model', 'base_n_head', 'base_head_size', 'base_d_ffn', 'alpha_in', 'alpha_out', 'alpha_attn', 'zero_query',
  'reversible', 'ffn_chunks', 'loss_chunks', 'attention', 'lsh_buckets', 'lsh_chunk', 'lsh_hashes', 'msg',
] as const

/** The default LSH chunk length (lsh_chunk). */
export const LSH_CHUNK = 64

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
    reversible: f.bool('reversible', false),
    ffn_chunks: f.int('ffn_chunks', 1, {min: 1, max: 1 << 20}),
    loss_chunks: f.int('loss_chunks', 1, {min: 1, max: 1 << 20}),
    attention: f.oneOf('attention', ATTENTION_KINDS, 'full'),
    // lsh_* are read (and kept) under full attention too, unused: a saved config must validate either way.
    lsh_buckets: f.int('lsh_buckets', 0, {min: 0, max: 1 << 16}),
    // A config that fixes lsh_buckets but has no lsh_chunk (every config saved before lsh_chunk existed) keeps the
    // chunk it was trained with, 2T/lsh_buckets; otherwise the chunk is fixed and the buckets follow the length.
    lsh_chunk: 0,
    lsh_hashes: f.int('lsh_hashes', 2, {min: 1, max: 64}),
  }
  cfg.lsh_chunk = f.int('lsh_chunk', cfg.lsh_buckets === 0 ? LSH_CHUNK : 0, {min: 0, max: 1 << 20})
  if (cfg.lsh_buckets > 1 && cfg.lsh_buckets % 2 !== 0)
    throw f.err('lsh_buckets', cfg.lsh_buckets, '0 (from the length and lsh_chunk), 1, or an even number (angular LSH hashes into ± rotations)')
  if (cfg.lsh_buckets === 0 && cfg.lsh_chunk === 0) throw f.err('lsh_chunk', 0, 'a chunk length ≥ 1 when lsh_buckets is 0 (derived from the length)')
  cfg.base_d_model = f.int('base_d_model', cfg.d_model, {min: 1, max: 65536})
  cfg.base_n_head = f.int('base_n_head', cfg.n_head, {min: 1, max: 4096})
  cfg.base_head_size = f.int('base_head_size', cfg.head_size, {min: 1, max: 65536})
  cfg.base_d_ffn = f.int('base_d_ffn', cfg.d_ffn, {min: 1, max: 1 << 20})
  // MSG (src/model/msg.ts): its masks are applied by the standard forward only.
  const msg = readMsg(f, cfg)
  if (msg) {
    if (cfg.reversible || cfg.attention === 'lsh')
      throw f.err('msg', msg, `absent with ${cfg.reversible ? 'reversible: true' : "attention: 'lsh'"} (MSG's masks are applied by the standard forward only)`)
    cfg.msg = msg
  }
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
 * (the residual stream after the block; reversible: the average of the two streams), and `logits` [N,V]. The
 * tensors belong to the caller's tf.tidy.
 */
export type Probe = (name: string, t: tf.Tensor) => void

export interface Gpt2ForwardOptions {
  /**
   * How a reversible model is differentiated: 'recompute' (default: the custom gradient that reconstructs
   * activations) or 'autodiff' (plain tfjs autodiff of the same forward, storing activations: the reference).
   */
  reversible?: RevMode
  /** Recompute mode: the anchor spacing and drift report of src/model/reversible.ts (default: every 8 blocks). */
  revAnchors?: Pick<RevOptions, 'anchorEvery' | 'onDrift'>
}

/**
 * Logits for token ids [B,T] (row-major Int32Array): returns [B·T, V]. Call inside tf.tidy.
 */
export function gpt2Forward(c: Gpt2Config, p: Params, ids: Int32Array, B: number, T: number, probe?: Probe,
  opts: Gpt2ForwardOptions = {}): tf.Tensor2D {
  const x = gpt2Hidden(c, p, ids, B, T, probe, opts)
  const logits = readout(c, x, p.get(c.tie_embeddings ? 'wte.weight' : 'lm_head.weight') as tf.Tensor2D)
  probe?.('logits', logits)
  return logits
}

/**
 * Mean next-token cross-entropy of a batch: inputs and targets are [B,T] row-major. Call inside tf.tidy. With
 * loss_chunks > 1 the logits are computed (and recomputed in backward) a row chunk at a time.
 */
export function gpt2Loss(c: Gpt2Config, p: Params, inputs: Int32Array, targets: Int32Array, B: number, T: number,
  opts: Gpt2ForwardOptions = {}): tf.Scalar {
  if (c.loss_chunks <= 1) {
    const logits = gpt2Forward(c, p, inputs, B, T, undefined, opts)
    return crossEntropy(logits, tf.tensor1d(targets, 'int32'))
  }
  const x = gpt2Hidden(c, p, inputs, B, T, undefined, opts)
  const N = B * T
  const head = p.get(c.tie_embeddings ? 'wte.weight' : 'lm_head.weight') as tf.Tensor2D
  // Each chunk contributes its rows' mean loss weighted by its share of the rows: the sum is the mean over N.
  return chunkedLoss((h, [w], r0, r1) =>
    tf.mul(crossEntropy(readout(c, h, w as tf.Tensor2D), tf.tensor1d(targets.subarray(r0, r1), 'int32')), (r1 - r0) / N),
  x, [head], c.loss_chunks)
}

/** Logits [N,V] of the final hidden states x[N,C]: tied (x·wteᵀ) or lm_head, times the µP readout multiplier. */
function readout(c: Gpt2Config, x: tf.Tensor2D, head: tf.Tensor2D): tf.Tensor2D {
  const mult = forwardMultipliers(c)
  let logits = c.tie_embeddings
    ? (tf.matMul(x, head, false, true) as tf.Tensor2D) // [N,C]·[V,C]ᵀ
    : linear(x, head)
  // µP readout multiplier α_out/m, on the logits whether the head is tied or not (research notes §1.3, §1.8.4).
  if (mult.readout !== 1) logits = tf.mul(logits, mult.readout)
  return logits
}

/** The final hidden states ln_f(blocks(embedding)) [N,C]. */
function gpt2Hidden(c: Gpt2Config, p: Params, ids: Int32Array, B: number, T: number, probe: Probe | undefined,
  opts: Gpt2ForwardOptions): tf.Tensor2D {
  if (T > c.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${c.n_positions}`)
  const N = B * T
  const mult = forwardMultipliers(c) // all 1 (skipped) for SP with α = 1
  // MSG: a grown model whose masks still ramp (src/model/msg.ts): masked weights, weighted norms, blended blocks.
  const msg = msgForward(c, gpt2Schema(c), p)
  if (msg) p = msg.params
  const norm = (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) =>
    msg?.resid ? weightedLayerNorm(x, g, b, c.layer_norm_eps, msg.resid, msg.residSum) : layerNorm(x, g, b, c.layer_norm_eps)
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
  const blocks = gpt2Blocks(c, p, B, T, mult.attention, norm, probe)
  // Shared-QK attention leaves the key projections unread: keep them connected, with zero gradient.
  if (c.attention === 'lsh') x = withZeroGrads(x, [...gpt2UnusedParams(c)].map((n) => get(n)))
  if (c.reversible) {
    // Probes need the intermediate streams, which only the plain autodiff forward keeps.
    const mode = probe ? 'autodiff' : (opts.reversible ?? 'recompute')
    const onBlock = probe ? (l: number, y1: tf.Tensor2D, y2: tf.Tensor2D) => probe(`h.${l}.out`, tf.mul(tf.add(y1, y2), 0.5)) : undefined
    x = reversibleStack(x, blocks.map((b) => ({f: b.attn, g: b.ffn})), mode, onBlock, opts.revAnchors)
  } else {
    for (let l = 0; l < c.n_layer; l++) {
      const {attn, ffn} = blocks[l]
      const x0 = x
      x = tf.add(x, attn.fn(x, attn.params))
      x = tf.add(x, c.ffn_chunks > 1 ? chunkedRows(ffn.fn, x, ffn.params, c.ffn_chunks) : ffn.fn(x, ffn.params))
      const m = msg?.block(l)
      if (m !== undefined) x = blendBlock(x, x0, m) // MSG: a grown block enters as m·block(x) + (1 − m)·x
      probe?.(`h.${l}.out`, x)
    }
  }
  return norm(x, get('ln_f.weight'), get('ln_f.bias'))
}

const ATTN_PARAMS = ['ln_1.weight', 'ln_1.bias', 'attn.q_proj.weight', 'attn.q_proj.bias', 'attn.k_proj.weight',
  'attn.k_proj.bias', 'attn.v_proj.weight', 'attn.v_proj.bias', 'attn.c_proj.weight', 'attn.c_proj.bias']
const K_PROJ = ['attn.k_proj.weight', 'attn.k_proj.bias']

/** The tensors the forward pass does not read: the key projections under shared-QK (LSH) attention. */
export function gpt2UnusedParams(c: Gpt2Config): Set<string> {
  return new Set(c.attention === 'lsh' ? Array.from({length: c.n_layer}, (_, l) => K_PROJ.map((n) => `h.${l}.${n}`)).flat() : [])
}
const LSH_ATTN_PARAMS = ATTN_PARAMS.filter((n) => !K_PROJ.includes(n))
const FFN_PARAMS = ['ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']

/**
 * Each block's two residual branches as functions of (x[N,C], their parameters in ATTN_PARAMS/LSH_ATTN_PARAMS and
 * FFN_PARAMS order): attn(x) = c_proj(Attention(LN1(x))), ffn(x) = c_proj(GELU(c_fc(LN2(x)))). The standard
 * block is x += attn(x); x += ffn(x). The functions read no tensor but their arguments (the reversible backward
 * calls them again after the forward's intermediates are gone).
 */
function gpt2Blocks(c: Gpt2Config, p: Params, B: number, T: number, scale: number,
  norm: (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D, probe?: Probe): {attn: Branch; ffn: Branch}[] {
  const N = B * T
  const NH = c.n_head
  const HS = c.head_size
  const lsh = c.attention === 'lsh'
  const heads = (y: tf.Tensor2D) => tf.transpose(tf.reshape(y, [B, T, NH, HS]), [0, 2, 1, 3]) as tf.Tensor4D // [B,NH,T,HS]
  const m = (t: tf.Tensor) => t as tf.Tensor2D
  const v = (t: tf.Tensor) => t as tf.Tensor1D
  const ffn: RowFn = (x, [g, b, wfc, bfc, wp, bp]) => {
    const h2 = norm(x, v(g), v(b))
    const f = gelu(linear(h2, m(wfc), v(bfc)))
    return linear(f, m(wp), v(bp))
  }
  return Array.from({length: c.n_layer}, (_, l) => {
    // The bucket plan of this layer's LSH attention: made by the first call, reused by the reversible recomputation.
    let plan: LshPlan | undefined
    const attn: Branch['fn'] = (x, ps) => {
      const h = norm(x, v(ps[0]), v(ps[1]))
      let a: tf.Tensor2D // [N,A]
      let o: number // index of c_proj.weight in ps
      if (lsh) {
        const q = heads(linear(h, m(ps[2]), v(ps[3])))
        const val = heads(linear(h, m(ps[4]), v(ps[5])))
        if (probe) probe(`h.${l}.attn_logits`, sharedQkLogits(q, scale)) // [B,NH,T,T]
        plan ??= lshPlan(q, {...lshGeometry(T, c), hashes: c.lsh_hashes, salt: l})
        a = tf.reshape(tf.transpose(lshAttention(q, val, scale, plan), [0, 2, 1, 3]), [N, NH * HS]) as tf.Tensor2D
        o = 6
      } else {
        // q, k, v stay in the projection layout [N,A]: the attention reads heads as column blocks, no transposes.
        const q = linear(h, m(ps[2]), v(ps[3]))
        const k = linear(h, m(ps[4]), v(ps[5]))
        const val = linear(h, m(ps[6]), v(ps[7]))
        if (probe) probe(`h.${l}.attn_logits`, tf.mul(tf.matMul(heads(q), heads(k), false, true), scale)) // [B,NH,T,T]
        a = causalAttentionRows(q, k, val, B, NH, scale)
        o = 8
      }
      return linear(a, m(ps[o]), v(ps[o + 1]))
    }
    const params = (names: string[]) => names.map((n) => p.get(`h.${l}.${n}`) as tf.Tensor)
    return {
      attn: {fn: attn, params: params(lsh ? LSH_ATTN_PARAMS : ATTN_PARAMS)},
      ffn: {fn: ffn, params: params(FFN_PARAMS), chunks: c.ffn_chunks},
    }
  })
}

