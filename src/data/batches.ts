/**
 * Batches of token windows. A batch is `inputs` and `targets`, both row-major [B, T] (B = batch rows,
 * T = seq), where targets are inputs shifted left by one: row b holds a window w of T+1 tokens,
 * inputs[b] = w[0..T), targets[b] = w[1..T].
 *
 * Training: `BatchSampler` picks each row's window start as counterInt(starts, seed, step, micro, row),
 * a pure function of those numbers. A run resumed at step s draws exactly the windows an uninterrupted
 * run would, with no sampler state saved beyond the step.
 *
 * Evaluation: `evalBatches` walks the split front to back in non-overlapping windows (window k starts at
 * k·T, so every target is scored once), B windows per batch; the last batch may have fewer rows.
 */
import {InputError} from '../errors.js'
import {counterInt} from './rng.js'
import type {TokenFile} from './tokens.js'

export interface Batch {
  /** [B, T] row-major token ids. */
  inputs: Int32Array
  /** [B, T] row-major: the next token after each input position. */
  targets: Int32Array
  /** Rows (B). */
  batch: number
  /** Columns (T). */
  seq: number
}

export interface SamplerOptions {
  batch: number
  seq: number
  seed: number
}

export class BatchSampler {
  readonly tokens: TokenFile
  readonly batch: number
  readonly seq: number
  readonly seed: number
  /** Number of distinct window starts: length − seq. */
  readonly starts: number
  private readonly window: Int32Array

  constructor(tokens: TokenFile, opts: SamplerOptions) {
    checkInt('batch', opts.batch, 1)
    checkInt('seq', opts.seq, 1)
    if (!Number.isSafeInteger(opts.seed)) throw new InputError(`sampler seed is ${opts.seed}: expected an integer`)
    if (tokens.length < opts.seq + 1) {
      throw new InputError(`${tokens.path}: ${tokens.length} tokens is too few for one window of seq ${opts.seq} + 1; use a shorter seq or more data`)
    }
    this.tokens = tokens
    this.batch = opts.batch
    this.seq = opts.seq
    this.seed = opts.seed
    this.starts = tokens.length - opts.seq
    this.window = new Int32Array(opts.seq + 1)
  }

  /** The first token of row `row`'s window at (step, micro): in [0, length − seq). */
  windowStart(step: number, micro: number, row: number): number {
    return counterInt(this.starts, this.seed, step, micro, row)
  }

  /** The batch for optimizer step `step`, gradient-accumulation micro-step `micro`. */
  sample(step: number, micro = 0): Batch {
    checkInt('step', step, 0)
    checkInt('micro', micro, 0)
    const {batch: B, seq: T} = this
    const inputs = new Int32Array(B * T)
    const targets = new Int32Array(B * T)
    for (let b = 0; b < B; b++) {
      const w = this.tokens.read(this.windowStart(step, micro, b), T + 1, this.window)
      inputs.set(w.subarray(0, T), b * T)
      targets.set(w.subarray(1, T + 1), b * T)
    }
    return {inputs, targets, batch: B, seq: T}
  }
}

export interface EvalOptions {
  batch: number
  seq: number
  /** Stop after this many batches (the first maxBatches·batch windows). Default: the whole split. */
  maxBatches?: number
}

export interface EvalPlan {
  /** Windows scored. */
  windows: number
  batches: number
  /** Target tokens scored (windows · seq). */
  tokens: number
}

/** How much `evalBatches` covers for a split of `length` tokens. */
export function evalPlan(length: number, opts: EvalOptions): EvalPlan {
  checkInt('batch', opts.batch, 1)
  checkInt('seq', opts.seq, 1)
  if (opts.maxBatches !== undefined) checkInt('maxBatches', opts.maxBatches, 1)
  let windows = Math.max(0, Math.floor((length - 1) / opts.seq))
  if (opts.maxBatches !== undefined) windows = Math.min(windows, opts.maxBatches * opts.batch)
  return {windows, batches: Math.ceil(windows / opts.batch), tokens: windows * opts.seq}
}

/**
 * Sequential, non-overlapping windows over `tokens`, front to back. All but the last (length − 1) mod seq
 * targets are covered (or the first maxBatches·batch windows). Throws if not even one window fits.
 */
export function* evalBatches(tokens: TokenFile, opts: EvalOptions): Generator<Batch> {
  const plan = evalPlan(tokens.length, opts)
  const T = opts.seq
  if (plan.windows === 0) {
    throw new InputError(`${tokens.path}: ${tokens.length} tokens is too few for one evaluation window of seq ${T} + 1; use a shorter seq or a larger validation split`)
  }
  for (let first = 0; first < plan.windows; first += opts.batch) {
    const B = Math.min(opts.batch, plan.windows - first)
    const block = tokens.read(first * T, B * T + 1) // windows first..first+B−1 share their boundary tokens
    yield {inputs: block.slice(0, B * T), targets: block.slice(1, B * T + 1), batch: B, seq: T}
  }
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new InputError(`${name} is ${v}: expected an integer ≥ ${min}`)
}
