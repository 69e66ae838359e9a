/**
 * µP entry points used by training, growth and the `mup` commands. Every number comes from the rule table in
 * rules.ts, evaluated per tensor with the width multipliers of the tensor's spaces (schema.spaces) under the
 * model's base shapes. Under SP (or µP at base width) every factor is 1: the maps below are empty and the
 * table's rows are all ones.
 *
 * After growth a model keeps its global η, σ and α's and its base shapes; these functions recompute the
 * per-tensor factors for the new widths. An SP checkpoint's base is its own width.
 */
import type {ModelConfig} from '../model/index.js'
import type {Role, Schema, Space} from '../model/schema.js'
import {decays} from '../model/schema.js'
import {RULES, optimizerFamily, spaceMultipliers, tensorWidths} from './rules.js'

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
