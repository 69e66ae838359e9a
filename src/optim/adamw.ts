/**
 * AdamW with decoupled weight decay over flat Float32Array weights, updated in place.
 * Weight decay applies to matrices only (the schema's `decays`); a per-tensor LR multiplier (µP) scales each
 * tensor's step and, as in µP's MuAdamW, its decay term alike.
 */
import {adamwStep} from '../compute/optim-kernels.js'
import {type Schema, decays, numel} from '../model/schema.js'
import {weightAndGrad} from './adafactor.js'
import {StatefulOptimizer} from './state.js'

export interface AdamWConfig {
  beta1: number
  beta2: number
  eps: number
  weight_decay: number
}

export type Tensors = Map<string, Float32Array>

/** State: `m.<name>` and `v.<name>` per tensor (2 floats per parameter) and the step count. */
export class AdamW extends StatefulOptimizer {
  readonly kind = 'adamw'

  constructor(
    readonly schema: Schema,
    readonly cfg: AdamWConfig,
    /** Per-tensor LR multipliers (µP); missing names get 1. */
    readonly lrMult: Map<string, number> = new Map(),
    /** Per-tensor weight-decay multipliers (µP keeps lr·λ width-independent); missing names mean 1. */
    readonly wdMult: Map<string, number> = new Map(),
  ) {
    super()
    for (const p of schema) {
      this.state.add('m', p.name, numel(p.shape))
      this.state.add('v', p.name, numel(p.shape))
    }
  }

  /** One update of every tensor in `weights` with `grads` at global learning rate `lr`. */
  update(weights: Tensors, grads: Tensors, lr: number): void {
    this.step++
    for (const p of this.schema) {
      const [w, g] = weightAndGrad('AdamW', p.name, weights, grads)
      const mult = this.lrMult.get(p.name) ?? 1
      adamwStep(w, g, this.state.get('m', p.name), this.state.get('v', p.name), {
        lr: lr * mult,
        beta1: this.cfg.beta1,
        beta2: this.cfg.beta2,
        eps: this.cfg.eps,
        weightDecay: decays(p) ? this.cfg.weight_decay * (this.wdMult.get(p.name) ?? 1) : 0,
        step: this.step,
      })
    }
  }
}
