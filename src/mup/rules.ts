/**
 * µP as one table. Every consumer (the model's forward, the initialiser, the optimizer's per-tensor LRs, the
 * `mup table` command, growth) reads the rows below; nothing else in the code knows a µP rule.
 *
 * Formulation: Tensor Programs V (Yang, Hu et al., arXiv 2203.03466) Table 8, the "alternative, easier to
 * implement" µP that microsoft/mup implements, anchored at base shapes (TP5 App. B.1) so that at width
 * multiplier m = 1 every factor is exactly 1 and µP is SP bit for bit. Adam and AdamW share the rules (TP5
 * B.3); so do the other entry-wise normalised optimizers (CAME; Adafactor with scale_parameter off). Adafactor
 * with parameter-relative steps is its own family (hidden LR 1/√m). The project's research notes on µP (§1.3)
 * give the derivation; the rows here are their "what to code" table:
 *
 *   role        init std        LR (Adam) WD (lr-coupled λ)   forward multiplier
 *   embedding   σ               η        λ                   α_in (token + position embedding sum)
 *   hidden      σ/√m_in         η/m_in   λ·m_in              1
 *   readout     σ (constant)    η        λ                   α_out/m_in   (on the logits; tied heads too)
 *   gain, bias  (ones/zeros)    η        (no decay)          1
 *   attention logits: α_attn·√(HS₀)/HS · qᵀk  (SP: α_attn/√HS)
 *
 * m_in is the width multiplier (width / base width) of the tensor's fan-in space: the first dimension, since
 * ligo stores matrices (in, out). Vectors (gains, biases) have fan-in 1 (TP5: "the fan_in of a bias is 1").
 * Finite spaces (vocab, positions) have multiplier 1, so an embedding's fan-in multiplier is 1.
 *
 * Weight decay: µP wants the decay independent of width (TP5 B.3). ligo's optimizers decay as
 * p ← p·(1 − lr·λ) with the per-tensor lr, so the WD column is 1/(LR column): lr·λ stays η·λ at every width,
 * as mup's MuAdamW does by default (optim.py L77-79) and CompleteP's "hidden WD λ·m_N". (The optimizers
 * apply it once they take per-tensor WD multipliers: src/mup/index.ts `wdMultipliers`.)
 *
 * Tied embeddings (notes §1.8 pitfall 4, mup issue #55): Table 8 allows tying because input and output weights
 * share the vector-like rule: the shared matrix keeps a width-constant init and the global LR; the readout's
 * 1/m lives in the forward (α_out/m on the logits), never in a rescaled shared init.
 *
 * SP is the same table read with every width multiplier set to 1 (base shapes = the model's own), so SP and
 * µP differ only in how the factors move with width; the α multipliers apply in both.
 */
import type {Role, Space} from '../model/schema.js'

export type Parametrization = 'sp' | 'mup'
export const PARAMETRIZATIONS: readonly Parametrization[] = ['sp', 'mup']

/**
 * Optimizer families. `adam`: entry-wise normalised steps whose size is lr (AdamW, CAME, Adafactor with
 * scale_parameter off — its default here). `adam_relative`: parameter-relative steps lr·RMS(θ) (Adafactor with
 * scale_parameter on), whose hidden steps already shrink like RMS(θ) ∝ 1/√m under µP init, so the hidden LR
 * needs only 1/√m more (notes §3.6, TP5 B.3).
 */
export type OptimizerFamily = 'adam' | 'adam_relative'
export const OPTIMIZER_NAMES = ['adamw', 'came', 'adafactor'] as const
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number]

/** The µP family of an optimizer and its settings. */
export function optimizerFamily(optimizer: string, o: {scale_parameter?: boolean} = {}): OptimizerFamily {
  switch (optimizer) {
    case 'adamw':
    case 'came':
      return 'adam'
    case 'adafactor':
      return o.scale_parameter ? 'adam_relative' : 'adam'
    default:
      throw new RangeError(`no µP rules for optimizer '${optimizer}' (known: ${OPTIMIZER_NAMES.join(', ')})`)
  }
}

/** Width multipliers of a tensor's fan-in and fan-out spaces (1 for finite spaces; fan-in 1 for vectors). */
export interface TensorWidths {
  fan_in: number
  fan_out: number
}

export interface Alphas {
  alpha_in: number
  alpha_out: number
  alpha_attn: number
}

/** One row: each column is a function of the tensor's width multipliers. */
export interface Rule {
  /** × the schema's init std (normal-initialised tensors only). */
  init: (w: TensorWidths) => number
  /** × the global learning rate η. */
  lr: (w: TensorWidths) => number
  /** × the weight-decay coefficient λ of an lr-coupled decay p ← p·(1 − lr·λ). */
  wd: (w: TensorWidths) => number
  /** × the tensor's contribution in the forward pass. */
  output: (w: TensorWidths, a: Alphas) => number
}

const one = () => 1

/** THE table: role × optimizer family. */
export const RULES: Readonly<Record<OptimizerFamily, Readonly<Record<Role, Rule>>>> = {
  adam: {
    embedding: {init: one, lr: one, wd: one, output: (_w, a) => a.alpha_in},
    hidden: {init: (w) => 1 / Math.sqrt(w.fan_in), lr: (w) => 1 / w.fan_in, wd: (w) => w.fan_in, output: one},
    readout: {init: one, lr: one, wd: one, output: (w, a) => a.alpha_out / w.fan_in},
    gain: {init: one, lr: one, wd: one, output: one},
    bias: {init: one, lr: one, wd: one, output: one},
  },
  adam_relative: {
    embedding: {init: one, lr: one, wd: one, output: (_w, a) => a.alpha_in},
    hidden: {init: (w) => 1 / Math.sqrt(w.fan_in), lr: (w) => 1 / Math.sqrt(w.fan_in), wd: (w) => Math.sqrt(w.fan_in), output: one},
    readout: {init: one, lr: one, wd: one, output: (w, a) => a.alpha_out / w.fan_in},
    gain: {init: one, lr: one, wd: one, output: one},
    bias: {init: one, lr: one, wd: one, output: one},
  },
}

/**
 * Attention-logit scale (TP5 Def. 4.1 and App. B.1): α_attn·√HS₀/HS, written as α_attn/√HS·√(HS₀/HS) so that at
 * HS = HS₀ it is exactly SP's α_attn/√HS. `m_head` = HS/HS₀ (1 under SP).
 */
export function attentionScale(headSize: number, mHead: number, alphaAttn: number): number {
  const s = alphaAttn / Math.sqrt(headSize)
  return mHead === 1 ? s : s / Math.sqrt(mHead)
}

/** The µP-relevant part of a model config (GPT-2's config satisfies it). */
export interface WidthConfig extends Alphas {
  param: Parametrization
  d_model: number
  n_head: number
  head_size: number
  d_ffn: number
  base_d_model: number
  base_n_head: number
  base_head_size: number
  base_d_ffn: number
}

/**
 * Width multiplier m = width / base width of every space; all 1 under SP. The attention spaces share
 * (n_head·head_size)/(base_n_head·base_head_size); with grouped KV heads (Llama) k and v are narrower, which only
 * matters as a fan-out (no Adam-family rule reads it) since o_proj reads `q` when heads are grouped.
 */
export function spaceMultipliers(c: WidthConfig): Record<Space, number> {
  const sp = c.param === 'sp'
  const attn = sp ? 1 : (c.n_head * c.head_size) / (c.base_n_head * c.base_head_size)
  return {
    resid: sp ? 1 : c.d_model / c.base_d_model,
    q: attn,
    k: attn,
    v: attn,
    ffn: sp ? 1 : c.d_ffn / c.base_d_ffn,
    vocab: 1,
    pos: 1,
  }
}

/** Fan-in/fan-out multipliers of a tensor from its spaces: matrices are stored (in, out). */
export function tensorWidths(spaces: readonly Space[], m: Record<Space, number>): TensorWidths {
  if (spaces.length === 1) return {fan_in: 1, fan_out: m[spaces[0]]}
  if (spaces.length === 2) return {fan_in: m[spaces[0]], fan_out: m[spaces[1]]}
  throw new RangeError(`µP rules cover vectors and (in, out) matrices, not tensors over [${spaces.join(', ')}]`)
}

/** Multipliers the forward pass applies: on the embedding sum, on qᵀk, on the logits. */
export interface ForwardMultipliers {
  input: number
  attention: number
  readout: number
}

/**
 * The forward multipliers of a model. Table 8's init and output columns do not depend on the optimizer
 * (only LR and WD do), so the forward reads the Adam rows.
 */
export function forwardMultipliers(c: WidthConfig): ForwardMultipliers {
  const m = spaceMultipliers(c)
  const rows = RULES.adam
  return {
    input: rows.embedding.output({fan_in: 1, fan_out: m.resid}, c),
    attention: attentionScale(c.head_size, c.param === 'sp' ? 1 : c.head_size / c.base_head_size, c.alpha_attn),
    readout: rows.readout.output({fan_in: m.resid, fan_out: 1}, c),
  }
}
