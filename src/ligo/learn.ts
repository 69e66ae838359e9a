/**
 * LiGO operator learning, one optimizer step at a time, at a memory cost set by the micro-batch:
 *
 *   1. materialise the grown weights W = G(θ) from the operator θ (tape-free, materialize.ts), into arrays reused
 *      from step to step;
 *   2. the grown model's loss and dL/dW, with W as the differentiated inputs (src/train/step.ts), over `accum`
 *      micro-batches, averaged exactly as the trainer averages them (loss/k and gradients scaled by 1/k, summed):
 *      the tape holds one micro-batch's activations of the grown model and nothing of the materialisation;
 *   3. the materialisation's backward turns dL/dW into dL/dθ (closed forms, tensor by tensor), then dL/dW is freed;
 *   4. global-norm clipping and AdamW on θ's learnable arrays (width M and T, depth coefficients).
 *
 * The operator batch (batch × accum sequences) is thus independent of memory: what is held at the peak is the
 * grown weights, their gradient (twice, while a micro-batch's gradient is added in), the source, the operator with
 * its optimizer state, and one micro-batch's activations.
 */
import {DivergenceError} from '../errors.js'
import {type ModelConfig, schemaOf} from '../model/index.js'
import {type Schema, numel} from '../model/schema.js'
import {AdamW} from '../optim/adamw.js'
import {clipGlobalNorm} from '../optim/clip.js'
import {type Batch, type Weights, lossAndGrads} from '../train/step.js'
import {type EngineOptions, materializeBackward, materializeInto} from './materialize.js'
import {type LigoOperator, learnables} from './operator.js'

export interface OperatorLearning {
  /** Learning rate of the depth coefficients as a multiple of the step's lr (1: the same). */
  depthLrMult: number
  weightDecay: number
  gradClip: number
  learnWidth: boolean
  learnDepth: boolean
}

/** Wall time of one step's parts, ms. */
export interface OperatorStepTimes {
  /** Building W from θ (0 when W was already current). */
  materialize: number
  /** The grown model's forward and backward over all micro-batches (incl. adding up their gradients). */
  model: number
  /** dL/dW → dL/dθ. */
  backward: number
  /** Clipping and AdamW on θ. */
  update: number
}

export interface OperatorStep {
  /** Mean loss over the micro-batches. */
  loss: number
  /** Global gradient norm of θ before clipping. */
  gradNorm: number
  /** dL/dθ by learnables() name, as applied (after clipping). */
  grads: Map<string, Float32Array>
  ms: OperatorStepTimes
}

export class OperatorLearner {
  readonly large: ModelConfig
  readonly schema: Schema
  /** The learnable operator arrays by learnables() name (the operator's own arrays, updated in place). */
  readonly learnable: Map<string, Float32Array>
  readonly learnableCount: number
  private readonly opt: AdamW
  private grown: Weights | undefined
  /** Whether `grown` is W of the current θ. */
  private current = false
  private steps = 0

  constructor(readonly op: LigoOperator, readonly source: Weights, readonly o: OperatorLearning, readonly engine: EngineOptions = {}) {
    this.large = op.large
    this.schema = schemaOf(op.large)
    this.learnable = learnables(op, {width: o.learnWidth, depth: o.learnDepth})
    this.learnableCount = [...this.learnable.values()].reduce((n, a) => n + a.length, 0)
    // The operator's arrays as a pseudo-schema: width matrices decay (as matrices do), depth coefficients do not.
    const pseudo: Schema = [...this.learnable].map(([name, a]) => ({name, layer: null, module: name, shape: [a.length], spaces: ['resid'],
      role: name.startsWith('width') ? 'hidden' : 'gain', init: {kind: 'zeros'}}))
    const lrMult = new Map([...this.learnable.keys()].filter((n) => n.startsWith('depth.')).map((n) => [n, o.depthLrMult]))
    this.opt = new AdamW(pseudo, {beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: o.weightDecay}, lrMult)
  }

  /**
   * The grown weights W of the current operator, materialised when θ changed since the last call. The arrays are
   * reused by the next step: copy what must outlive it.
   */
  weights(): Weights {
    if (!this.grown) this.grown = new Map(this.schema.map((P) => [P.name, new Float32Array(numel(P.shape))]))
    if (!this.current) {
      materializeInto(this.op, this.source, this.grown, this.engine)
      this.current = true
    }
    return this.grown
  }

  /**
   * One optimizer step of θ over `micro` (the micro-batches of one operator batch, equal sizes) at learning
   * rate `lr`. Throws a DivergenceError, before updating θ, when the loss is not finite.
   */
  step(micro: readonly Batch[], lr: number): OperatorStep {
    if (micro.length === 0) throw new RangeError('OperatorLearner.step: no micro-batches')
    const t0 = performance.now()
    const W = this.weights()
    const t1 = performance.now()
    const k = micro.length
    let dW: Weights | undefined = new Map()
    let loss = 0
    for (const b of micro) loss += lossAndGrads(this.large, this.schema, W, b, dW, 1 / k) / k
    const t2 = performance.now()
    if (!Number.isFinite(loss)) throw new DivergenceError(`operator learning diverged: loss ${loss} at step ${this.steps + 1}; lower --lr`)
    const grads = new Map([...this.learnable].map(([n, a]) => [n, new Float32Array(a.length)]))
    materializeBackward(this.op, this.source, dW, grads, this.engine)
    dW = undefined // dL/dW (one grown model's worth) is garbage from here
    const t3 = performance.now()
    const gradNorm = clipGlobalNorm(grads.values(), this.o.gradClip)
    if (!Number.isFinite(gradNorm)) throw new DivergenceError(`operator learning diverged: the operator's gradient has NaN/Inf at step ${this.steps + 1}; lower --lr`)
    this.opt.update(this.learnable, grads, lr)
    this.current = false
    this.steps++
    const t4 = performance.now()
    return {loss, gradNorm, grads, ms: {materialize: t1 - t0, model: t2 - t1, backward: t3 - t2, update: t4 - t3}}
  }

  /** Drops the grown weights (W of a stale θ is of no use; `weights()` rebuilds them). */
  release(): void {
    this.grown = undefined
    this.current = false
  }
}
