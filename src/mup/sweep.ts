/**
 * µTransfer check (TP5 Fig. 1): train the same-depth model at several widths over a log2 grid of global learning
 * rates, under SP and under µP, and compare the loss-vs-LR curves. Under µP the best LR stays put as width
 * grows; under SP it drifts (usually down). Every run uses the project's trainer pieces (AdamW, warmup + decay
 * schedule, global-norm clip, seeded batches) with the per-tensor µP factors from the rule table, and is scored
 * by validation loss at the end. Weight decay is 0 (not µTransferable, TP5 Table 1). Returns rows; plotting is
 * separate.
 */
import {BatchSampler} from '../data/batches.js'
import type {TokenFile} from '../data/tokens.js'
import {schemaOf} from '../model/index.js'
import {initWeights} from '../model/init.js'
import {AdamW} from '../optim/adamw.js'
import {clipGlobalNorm} from '../optim/clip.js'
import {lrAt} from '../optim/schedule.js'
import {trainConfig} from '../train/config.js'
import {evaluate} from '../train/eval.js'
import {type Weights, lossAndGrads} from '../train/step.js'
import {initStds, lrMultipliers} from './index.js'
import {checkWidths, ladderModel} from './models.js'
import type {Parametrization} from './rules.js'

export interface SweepRow {
  param: Parametrization
  width: number
  log2_lr: number
  lr: number
  /** Validation loss after the last step; null if the run diverged (NaN/Inf loss). */
  val_loss: number | null
  /** Mean training loss over the last 10% of steps; null if diverged. */
  train_loss: number | null
  diverged: boolean
  params: number
  seconds: number
}

export interface SweepOptions {
  train: TokenFile
  val: TokenFile
  widths: readonly number[]
  /** log2 of the global learning rates. */
  log2_lrs: readonly number[]
  params?: readonly Parametrization[]
  steps?: number
  n_layer?: number
  head_size?: number
  batch?: number
  seq?: number
  warmup?: number
  /** Validation batches for the final score. */
  eval_batches?: number
  seed?: number
  /** Extra model keys: alpha_in, alpha_out, alpha_attn, zero_query, tie_embeddings... */
  model?: Record<string, unknown>
  onRun?: (row: SweepRow, done: number, total: number) => void
}

export async function lrSweep(o: SweepOptions): Promise<SweepRow[]> {
  const headSize = o.head_size ?? 16
  const widths = checkWidths(o.widths, headSize)
  const params = o.params ?? ['sp', 'mup']
  const seq = o.seq ?? 64
  const ladder = {widths, n_layer: o.n_layer ?? 2, head_size: headSize, vocab_size: o.train.vocabSize, n_positions: seq, model: o.model}
  const total = params.length * widths.length * o.log2_lrs.length
  const rows: SweepRow[] = []
  for (const param of params) {
    for (const width of widths) {
      for (const log2Lr of o.log2_lrs) {
        const c = ladderModel(ladder, width, param)
        const tc = trainConfig({
          steps: o.steps ?? 100, batch: o.batch ?? 8, seq, lr: 2 ** log2Lr, warmup: o.warmup ?? 10, schedule: 'cosine',
          weight_decay: 0, grad_clip: 1, seed: o.seed ?? 1337,
        })
        const t0 = performance.now()
        const schema = schemaOf(c)
        const weights: Weights = initWeights(schema, tc.seed, initStds(c, schema))
        const opt = new AdamW(schema, tc, lrMultipliers(c, schema))
        const sampler = new BatchSampler(o.train, {batch: tc.batch, seq, seed: tc.seed})
        const tail = Math.max(1, Math.round(tc.steps / 10))
        let tailSum = 0
        let diverged = false
        for (let step = 0; step < tc.steps; step++) {
          const grads: Weights = new Map()
          const b = sampler.sample(step)
          const loss = lossAndGrads(c, schema, weights, {inputs: b.inputs, targets: b.targets, batch: tc.batch, seq}, grads)
          if (!Number.isFinite(loss)) {
            diverged = true
            break
          }
          if (step >= tc.steps - tail) tailSum += loss
          clipGlobalNorm(grads.values(), tc.grad_clip)
          opt.update(weights, grads, lrAt(step, tc))
        }
        let val: number | null = null
        if (!diverged) {
          const v = evaluate(c, schema, weights, o.val, {batch: tc.batch, seq, maxBatches: o.eval_batches ?? 8}).loss
          if (Number.isFinite(v)) val = v
          else diverged = true
        }
        const row: SweepRow = {
          param, width, log2_lr: log2Lr, lr: tc.lr, val_loss: val, train_loss: diverged ? null : tailSum / tail, diverged,
          params: schema.reduce((n, s) => n + s.shape.reduce((a, d) => a * d, 1), 0), seconds: (performance.now() - t0) / 1000,
        }
        rows.push(row)
        o.onRun?.(row, rows.length, total)
        await new Promise((resolve) => setImmediate(resolve)) // let progress output and signals through
      }
    }
  }
  return rows
}

export interface BestLr {
  param: Parametrization
  width: number
  log2_lr: number
  lr: number
  val_loss: number
}

/** The grid LR with the lowest validation loss for each (param, width). */
export function bestLrs(rows: readonly SweepRow[]): BestLr[] {
  const best = new Map<string, BestLr>()
  for (const r of rows) {
    if (r.val_loss === null) continue
    const k = `${r.param}\t${r.width}`
    const b = best.get(k)
    if (!b || r.val_loss < b.val_loss) best.set(k, {param: r.param, width: r.width, log2_lr: r.log2_lr, lr: r.lr, val_loss: r.val_loss})
  }
  return [...best.values()]
}
