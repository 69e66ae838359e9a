/**
 * Optimizer state bookkeeping shared by AdamW, CAME and Adafactor: named flat state tensors `<slot>.<param>`
 * plus the optimizer's own step count saved as `step`, and the base class that turns them into the
 * checkpoint half of the Optimizer interface (stateTensors / loadState / stateBytes).
 */
import {InputError} from '../errors.js'
import type {Optimizer, OptimizerKind, Tensors} from './index.js'

/** Named state tensors `<slot>.<param name>`, plus the optimizer's own step count saved as `step`. */
export class StateSet {
  private readonly map: Tensors = new Map()

  /** A zero-filled state tensor of n floats. */
  add(slot: string, name: string, n: number): void {
    this.map.set(`${slot}.${name}`, new Float32Array(n))
  }

  get(slot: string, name: string): Float32Array {
    return this.map.get(`${slot}.${name}`)!
  }

  tensors(step: number): Tensors {
    return new Map([...this.map, ['step', Float32Array.of(step)]])
  }

  /**
   * Copies every tensor from `state` after checking them all (nothing is half-loaded); returns the saved step
   * count, or `step` if none was saved.
   */
  load(state: Tensors, step: number): number {
    for (const [k, dst] of this.map) {
      const src = state.get(k)
      if (!src) throw new InputError(`optimizer state is missing '${k}' (was it saved by another optimizer, settings or model?)`)
      if (src.length !== dst.length) throw new InputError(`optimizer state '${k}' has ${src.length} values, expected ${dst.length}`)
    }
    for (const [k, dst] of this.map) dst.set(state.get(k)!)
    return savedStep(state, step)
  }

  bytes(): number {
    let n = 1 // the step
    for (const t of this.map.values()) n += t.length
    return n * 4
  }
}

/** The step count saved as `step` in an optimizer state, else `fallback`. */
export function savedStep(state: Tensors, fallback: number): number {
  const s = state.get('step')
  if (!s) return fallback
  if (s.length !== 1 || !Number.isInteger(s[0]) || s[0] < 0) throw new InputError(`optimizer state 'step' is not a step count: ${Array.from(s.slice(0, 4))}`)
  return s[0]
}

/** An optimizer whose whole state lives in one StateSet: the checkpoint methods come for free. */
export abstract class StatefulOptimizer implements Optimizer {
  abstract readonly kind: OptimizerKind
  /** Number of updates made so far (bias corrections use step + 1 for the next one). */
  step = 0
  protected readonly state = new StateSet()

  abstract update(weights: Tensors, grads: Tensors, lr: number): void

  /** Optimizer state as named tensors for a checkpoint (`<slot>.<name>`, and the step count as `step`). */
  stateTensors(): Tensors {
    return this.state.tensors(this.step)
  }

  /**
   * Restores state saved by stateTensors(); throws naming the first missing or mis-sized tensor. The saved `step`
   * wins over `step` (they differ after --reset-optimizer); states without one take `step`.
   */
  loadState(state: Tensors, step: number): void {
    this.step = this.state.load(state, step)
  }

  stateBytes(): number {
    return this.state.bytes()
  }
}
