/**
 * The optimizers behind one interface: AdamW (src/optim/adamw.ts), CAME (came.ts) and Adafactor (adafactor.ts).
 * All three update flat Float32Array weights in place, use decoupled weight decay on the schema's decaying
 * tensors (matrices), and take per-tensor LR multipliers (µP) that scale each tensor's step and its decay term
 * alike. The trainer builds one with `makeOptimizer` and saves `stateTensors()` in optimizer.safetensors.
 *
 * State per parameter (fp32 floats; see `stateBytes`): AdamW 2 (m, v); CAME ≈1 (m, plus row and column
 * statistics for matrices, full v for vectors); Adafactor with the default beta1 = 0 ≈0 (row and column
 * statistics for matrices, full v for vectors).
 */
import type {Schema} from '../model/schema.js'
import {ADAFACTOR_DEFAULTS, Adafactor} from './adafactor.js'
import {AdamW} from './adamw.js'
import {CAME, CAME_DEFAULTS} from './came.js'

export const OPTIMIZERS = ['adamw', 'came', 'adafactor'] as const
export type OptimizerKind = (typeof OPTIMIZERS)[number]

export type Tensors = Map<string, Float32Array>

export interface Optimizer {
  readonly kind: OptimizerKind
  /** Updates made by this optimizer's state so far (restarts at 0 with a fresh state). */
  step: number
  /** One update of every schema tensor in `weights` with `grads` at global learning rate `lr`. */
  update(weights: Tensors, grads: Tensors, lr: number): void
  /** The state as named flat tensors for a checkpoint, including its own step count as `step` (one float). */
  stateTensors(): Tensors
  /**
   * Restores state saved by stateTensors(). `step` is used when the state has no `step` entry (checkpoints
   * written before it was saved); throws an InputError naming the first missing or mis-sized tensor.
   */
  loadState(state: Tensors, step: number): void
  /** Bytes of optimizer state held (everything stateTensors() returns). */
  stateBytes(): number
}

/**
 * The hyperparameters an optimizer reads from a run's `train` config. Keys an optimizer does not use are
 * absent from a resolved config; a missing optional key falls back to OPTIMIZER_DEFAULTS.
 */
export interface OptimizerSettings {
  /** Decoupled weight decay on matrices, all optimizers: θ ← θ·(1 − lr·μ·wd). */
  weight_decay: number
  /** First-moment decay: adamw 0.9, came 0.9, adafactor 0 (= no first moment, the paper's default). */
  beta1: number
  /** Second-moment decay: adamw 0.95, came 0.999; adafactor: a cap on its β̂2_t = 1 − t^decay_rate schedule (1 = no cap). */
  beta2: number
  /** adamw: ε added to √v (1e-8). came, adafactor: ε1 added to g² before the second-moment statistics (1e-30). */
  eps: number
  /** came only: decay of the instability (confidence) statistics (0.9999). */
  beta3?: number
  /** came: ε2 added to the instability (1e-16); adafactor: the floor of RMS(θ) under scale_parameter (1e-3). */
  eps2?: number
  /** came, adafactor: update clipping threshold d, û = u / max(1, RMS(u)/d) (1). */
  clip_threshold?: number
  /** adafactor only: exponent c of β̂2_t = 1 − t^c (−0.8). */
  decay_rate?: number
  /** adafactor only: scale the step by max(eps2, RMS(θ)), the paper's parameter-relative step (false). */
  scale_parameter?: boolean
}

export type OptimizerSettingKey = keyof OptimizerSettings

export const ADAMW_DEFAULTS = {beta1: 0.9, beta2: 0.95, eps: 1e-8} as const

/**
 * Each optimizer's defaults for the keys it uses (weight_decay is shared: train.weight_decay). A key is used
 * by an optimizer exactly when it appears in its row.
 */
export const OPTIMIZER_DEFAULTS: Record<OptimizerKind, Readonly<Partial<OptimizerSettings>>> = {
  adamw: ADAMW_DEFAULTS,
  came: CAME_DEFAULTS,
  adafactor: ADAFACTOR_DEFAULTS,
}

/** Builds an optimizer for a schema. `lrMult`: per-tensor LR multipliers (µP); missing names get 1. */
export function makeOptimizer(
  kind: OptimizerKind,
  schema: Schema,
  s: OptimizerSettings,
  lrMult: Map<string, number> = new Map(),
  wdMult: Map<string, number> = new Map(),
): Optimizer {
  const d = OPTIMIZER_DEFAULTS[kind]
  switch (kind) {
    case 'adamw':
      return new AdamW(schema, {beta1: s.beta1, beta2: s.beta2, eps: s.eps, weight_decay: s.weight_decay}, lrMult, wdMult)
    case 'came':
      return new CAME(
        schema,
        {
          beta1: s.beta1,
          beta2: s.beta2,
          beta3: s.beta3 ?? d.beta3!,
          eps1: s.eps,
          eps2: s.eps2 ?? d.eps2!,
          clip_threshold: s.clip_threshold ?? d.clip_threshold!,
          weight_decay: s.weight_decay,
        },
        lrMult,
        wdMult,
      )
    case 'adafactor':
      return new Adafactor(
        schema,
        {
          beta1: s.beta1,
          beta2: s.beta2,
          eps1: s.eps,
          eps2: s.eps2 ?? d.eps2!,
          clip_threshold: s.clip_threshold ?? d.clip_threshold!,
          decay_rate: s.decay_rate ?? d.decay_rate!,
          scale_parameter: s.scale_parameter ?? d.scale_parameter!,
          weight_decay: s.weight_decay,
        },
        lrMult,
        wdMult,
      )
    default:
      throw new Error(`makeOptimizer: unknown optimizer '${kind as string}'`)
  }
}
