/**
 * AdamW with decoupled weight decay over flat Float32Array weights, updated in place.
 * Weight decay applies to matrices only (the schema's `decays`); a per-tensor LR multiplier (µP) scales each
 * tensor's step and, as in µP's MuAdamW, its decay term alike.
 */
import {InputError} from '../errors.js'
import {adamwStep} from '../compute/optim-kernels.js'
import {type Schema, decays, numel} from '../model/schema.js'
import {savedStep} from './adafactor.js'
import type {Optimizer} from './index.js'

export interface AdamWConfig {
  beta1: number
  beta2: number
  eps: number
  weight_decay: number
}

export type Tensors = Map<string, Float32Array>

export class AdamW implements Optimizer {
  readonly kind = 'adamw'
  /** Number of updates made so far (bias correction uses step + 1 for the next one). */
  step = 0
  private readonly m: Tensors = new Map()
  private readonly v: Tensors = new Map()

  constructor(
    readonly schema: Schema,
    readonly cfg: AdamWConfig,
    /** Per-tensor LR multipliers (µP); missing names get 1. */
    readonly lrMult: Map<string, number> = new Map(),
    /** Per-tensor weight-decay multipliers (µP keeps lr·λ width-independent); missing names mean 1. */
    readonly wdMult: Map<string, number> = new Map(),
  ) {
    for (const p of schema) {
      this.m.set(p.name, new Float32Array(numel(p.shape)))
      this.v.set(p.name, new Float32Array(numel(p.shape)))
    }
  }

  /** One update of every tensor in `weights` with `grads` at global learning rate `lr`. */
  update(weights: Tensors, grads: Tensors, lr: number): void {
    this.step++
    for (const p of this.schema) {
      const w = weights.get(p.name)
      const g = grads.get(p.name)
      if (!w || !g) throw new Error(`AdamW.update: missing weight or gradient for ${p.name}`)
      const mult = this.lrMult.get(p.name) ?? 1
      adamwStep(w, g, this.m.get(p.name)!, this.v.get(p.name)!, {
        lr: lr * mult,
        beta1: this.cfg.beta1,
        beta2: this.cfg.beta2,
        eps: this.cfg.eps,
        weightDecay: decays(p) ? this.cfg.weight_decay * (this.wdMult.get(p.name) ?? 1) : 0,
        step: this.step,
      })
    }
  }

  /** Optimizer state as named tensors for a checkpoint (`m.<name>`, `v.<name>`, and the step count as `step`). */
  stateTensors(): Tensors {
    const out: Tensors = new Map()
    for (const p of this.schema) {
      out.set(`m.${p.name}`, this.m.get(p.name)!)
      out.set(`v.${p.name}`, this.v.get(p.name)!)
    }
    out.set('step', Float32Array.of(this.step))
    return out
  }

  /** Bytes of state: m and v, 2 floats per parameter (and the step). */
  stateBytes(): number {
    let n = 1
    for (const t of this.m.values()) n += 2 * t.length
    return n * 4
  }

  /**
   * Restores state saved by stateTensors(); throws naming the first missing or mis-sized tensor. The saved `step`
   * wins over `step` (they differ after --reset-optimizer); states without one take `step`.
   */
  loadState(state: Map<string, Float32Array>, step: number): void {
    for (const p of this.schema) {
      for (const [k, dst] of [[`m.${p.name}`, this.m.get(p.name)!], [`v.${p.name}`, this.v.get(p.name)!]] as const) {
        const src = state.get(k)
        if (!src) throw new InputError(`optimizer state is missing '${k}' (optimizer.safetensors does not belong to this model)`)
        if (src.length !== dst.length) throw new InputError(`optimizer state '${k}' has ${src.length} values, expected ${dst.length}`)
        dst.set(src)
      }
    }
    this.step = savedStep(state, step)
  }
}
