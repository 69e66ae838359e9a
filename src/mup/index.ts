/**
 * µP entry points used by training, growth and the `mup` commands. Every number comes from the rule table in
 * rules.ts, evaluated per tensor with the width multipliers of the tensor's spaces (schema.spaces) under the
 * model's base shapes. Under SP (or µP at base width) every factor is 1: the maps below are empty and the
 * table's rows are all ones.
 *
 * After growth a model keeps its global η, σ and α's and its base shapes; these functions recompute the
 * per-tensor factors for the new widths. An SP checkpoint's base is its own width.
 */
import {InputError} from '../errors.js'
import type {ModelConfig} from '../model/index.js'
import type {Role, Schema, Space} from '../model/schema.js'
import {decays} from '../model/schema.js'
import {RULES, type Parametrization, forwardMultipliers, optimizerFamily, spaceMultipliers, tensorWidths} from './rules.js'

export {type ForwardMultipliers, forwardMultipliers, spaceMultipliers} from './rules.js'

export interface MupRow {
  name: string
  role: Role
  spaces: Space[]
  /** Width multiplier of the fan-in space (1 for vectors and for embeddings, whose fan-in is a one-hot). */
  fan_in_mult: number
  /** The std the tensor is initialised with (normal inits), null for constant inits (ones, zeros). */
  init_std: number | null
  /** × the global learning rate. */
  lr_mult: number
  /** × the weight-decay coefficient (lr-coupled decay); 0 for tensors that never decay (gains, biases). */
  wd_mult: number
  /** × the tensor's forward contribution (the tied readout's α_out/m is in `forwardMultipliers(c).readout`). */
  output_mult: number
}

/** Which optimizer the factors are for: its name and (Adafactor) whether its steps are parameter-relative. */
export type OptimizerSpec = string | {optimizer: string; scale_parameter?: boolean}

/** The per-tensor µP factors of a model for an optimizer, one row per schema entry in schema order. */
export function mupTable(c: ModelConfig, schema: Schema, optimizer: OptimizerSpec = 'adamw'): MupRow[] {
  const o = typeof optimizer === 'string' ? {optimizer} : optimizer
  const rows = RULES[optimizerFamily(o.optimizer, o)]
  const m = spaceMultipliers(c)
  return schema.map((p) => {
    const rule = rows[p.role]
    const w = tensorWidths(p.spaces, m)
    let init_std: number | null = null
    if (p.init.kind === 'normal') init_std = zeroInit(c, p.module) ? 0 : scaled(p.init.std, rule.init(w))
    return {
      name: p.name,
      role: p.role,
      spaces: p.spaces,
      fan_in_mult: w.fan_in,
      init_std,
      lr_mult: rule.lr(w),
      wd_mult: decays(p) ? rule.wd(w) : 0,
      output_mult: rule.output(w, c),
    }
  })
}

/** Per-tensor learning-rate multipliers for an Adam-family optimizer (names whose multiplier is 1 are left out). */
export function lrMultipliers(c: ModelConfig, schema: Schema, optimizer: OptimizerSpec = 'adamw'): Map<string, number> {
  return new Map(mupTable(c, schema, optimizer).filter((r) => r.lr_mult !== 1).map((r) => [r.name, r.lr_mult]))
}

/**
 * Per-tensor weight-decay multipliers for an optimizer whose decay is p ← p·(1 − lr·λ) with the per-tensor lr:
 * λ·wd_mult keeps lr·λ width-independent. (Names whose multiplier is 1 or that never decay are left out.)
 */
export function wdMultipliers(c: ModelConfig, schema: Schema, optimizer: OptimizerSpec = 'adamw'): Map<string, number> {
  return new Map(mupTable(c, schema, optimizer).filter((r) => r.wd_mult !== 1 && r.wd_mult !== 0).map((r) => [r.name, r.wd_mult]))
}

/** Per-tensor init std overrides for normal-initialised tensors (names that keep the schema's std are left out). */
export function initStds(c: ModelConfig, schema: Schema): Map<string, number> {
  const out = new Map<string, number>()
  mupTable(c, schema).forEach((r, i) => {
    const init = schema[i].init
    if (init.kind === 'normal' && r.init_std !== null && r.init_std !== init.std) out.set(r.name, r.init_std)
  })
  return out
}

/** The width multipliers (width / base) of a model's spaces, for reports. */
export function widthMultipliers(c: ModelConfig): {resid: number; attn: number; ffn: number; head: number} {
  const m = spaceMultipliers(c)
  return {resid: m.resid, attn: m.q, ffn: m.ffn, head: c.param === 'sp' ? 1 : c.head_size / c.base_head_size}
}

function zeroInit(c: ModelConfig, module: string): boolean {
  return c.zero_query && module === 'attn.q_proj.weight'
}

/** std·k, exact when k = 1. */
function scaled(std: number, k: number): number {
  return k === 1 ? std : std * k
}

/** One learning-rate group: the tensors whose rate is η·lr_mult. */
export interface LrGroup {
  lr_mult: number
  lr: number
  tensors: number
  roles: Role[]
}

/** What `ligo info` and the start of `ligo train` say about a model's parametrization and per-tensor LR rule. */
export interface ParametrizationSummary {
  param: Parametrization
  /** Width multipliers (width / base width); all 1 under SP and at µP's base width. */
  multipliers: {resid: number; attn: number; ffn: number; head: number}
  base: {d_model: number; n_head: number; head_size: number; d_ffn: number}
  /** The rule, in words (Tensor Programs V, Table 8, Adam family). */
  rule: string
  lr_groups: LrGroup[]
  /** × on the logits (α_out/m under µP). */
  readout_mult: number
}

export function parametrizationSummary(c: ModelConfig, schema: Schema, optimizer: OptimizerSpec = 'adamw', lr = 1): ParametrizationSummary {
  const groups = new Map<number, LrGroup>()
  for (const r of mupTable(c, schema, optimizer)) {
    const g = groups.get(r.lr_mult) ?? {lr_mult: r.lr_mult, lr: lr * r.lr_mult, tensors: 0, roles: []}
    g.tensors++
    if (!g.roles.includes(r.role)) g.roles.push(r.role)
    groups.set(r.lr_mult, g)
  }
  const relative = typeof optimizer !== 'string' && optimizer.scale_parameter
  return {
    param: c.param,
    multipliers: widthMultipliers(c),
    base: {d_model: c.base_d_model, n_head: c.base_n_head, head_size: c.base_head_size, d_ffn: c.base_d_ffn},
    rule: c.param === 'sp'
      ? 'SP: every tensor at the global η, init σ'
      : `µP: hidden matrices init σ/√m and LR η/${relative ? '√m' : 'm'} (m = the width multiplier of their fan-in), embeddings, gains, biases and the readout η, logits × α_out/m`,
    lr_groups: [...groups.values()].sort((a, b) => b.lr_mult - a.lr_mult),
    readout_mult: forwardMultipliers(c).readout,
  }
}

/** The summary as lines of text, e.g. for `ligo info` and the start of `ligo train`. */
export function describeParametrization(s: ParametrizationSummary, lrKnown: boolean): string[] {
  const m = s.multipliers
  const g = (x: number) => Number(x.toPrecision(4)).toString()
  const name = s.param === 'mup' ? 'µP' : 'SP'
  const head = s.param === 'mup'
    ? `parametrization: µP, base d_model ${s.base.d_model} (width multipliers: resid ${g(m.resid)}, attention ${g(m.attn)}, ffn ${g(m.ffn)})${m.resid === 1 && m.attn === 1 && m.ffn === 1 ? ' — at its base width µP equals SP; a model grown from it gets η/m on its hidden matrices' : ''}`
    : 'parametrization: SP (standard; every tensor at the global η — µP is --param mup when training from a config)'
  const lines = [head]
  if (s.param === 'mup' || s.lr_groups.length > 1) {
    const rate = (x: LrGroup) => (lrKnown ? `η·${g(x.lr_mult)} = ${x.lr.toExponential(2)}` : `η·${g(x.lr_mult)}`)
    lines.push(`per-tensor LR (${name}): ${s.lr_groups.map((x) => `${rate(x)} for ${x.tensors} tensors (${x.roles.join(', ')})`).join('; ')}; logits × ${g(s.readout_mult)}`)
  }
  return lines
}

/**
 * Refuses a parametrization switch that would change what a checkpoint computes. Under µP the readout multiplier
 * α_out/m and the attention scale depend on the width multipliers, so turning a grown SP checkpoint (base shapes
 * kept from its source) into µP, or the reverse, changes its outputs. At base width (every m = 1) µP and SP are the
 * same function and the switch is allowed.
 */
export function checkParametrizationSwitch(c: ModelConfig, to: Parametrization, where: string): void {
  if (to === c.param) return
  const m = spaceMultipliers(c.param === 'mup' ? c : ({...c, param: 'mup'} as ModelConfig))
  const off = (Object.entries(m) as [Space, number][]).filter(([, v]) => v !== 1)
  const headOff = c.head_size !== c.base_head_size
  if (off.length === 0 && !headOff) return
  const fm = (p: Parametrization) => forwardMultipliers({...c, param: p} as ModelConfig)
  const a = fm(c.param)
  const b = fm(to)
  throw new InputError(
    `--param ${to}: ${where} was trained as ${c.param === 'mup' ? 'µP' : 'SP'} at width multipliers ${[...new Set(off.map(([, v]) => v))].join(', ') || 1} from its base shapes, ` +
      `so switching to ${to === 'mup' ? 'µP' : 'SP'} changes the function it computes (logits × ${a.readout} → ${b.readout}, attention scale ${a.attention.toPrecision(4)} → ${b.attention.toPrecision(4)}, and the per-tensor learning rates); ` +
      'keep its parametrization (drop --param), or train a new model with the one you want',
  )
}
