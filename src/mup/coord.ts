/**
 * Coordinate check (TP5 §4 / microsoft/mup coord_check.py): build the same-depth model at several widths, train
 * each a few real AdamW steps at a fixed, deliberately large LR, and record the mean absolute coordinate
 * mean|x| of the embedding output, the residual stream after every block, every block's attention logits and
 * the output logits, before the first update and after each one. Under µP the curves are flat in width; under
 * SP they grow with width once training moves the weights. Returns rows; plotting is separate.
 */
import * as tf from '@tensorflow/tfjs-core'

import {BatchSampler} from '../data/batches.js'
import type {TokenFile} from '../data/tokens.js'
import {forward, schemaOf} from '../model/index.js'
import {initWeights} from '../model/init.js'
import {AdamW} from '../optim/adamw.js'
import {type Weights, lossAndGrads} from '../train/step.js'
import {initStds, lrMultipliers} from './index.js'
import {checkWidths, ladderModel} from './models.js'
import type {Parametrization} from './rules.js'

export type ProbeKind = 'embed' | 'resid' | 'attn_logits' | 'logits'

export interface CoordRow {
  param: Parametrization
  width: number
  /** Updates made before this measurement (0 = at init). */
  step: number
  /** The probe's name: `embed`, `h.<l>.out`, `h.<l>.attn_logits`, `logits`. */
  probe: string
  kind: ProbeKind
  /** mean |x| over the probe batch, averaged over seeds. */
  value: number
}

export interface CoordCheckOptions {
  /** Training tokens (a prepared split). */
  tokens: TokenFile
  widths: readonly number[]
  params?: readonly Parametrization[]
  /** AdamW updates per model (default 3, as mup's coord check). */
  steps?: number
  /** Fixed global learning rate (default 1e-2: large, so the check sees training move the weights). */
  lr?: number
  n_layer?: number
  head_size?: number
  batch?: number
  seq?: number
  /** Seeds to average over (default [0]). */
  seeds?: readonly number[]
  /** Extra model keys: alpha_in, alpha_out, alpha_attn, zero_query, tie_embeddings... */
  model?: Record<string, unknown>
  onProgress?: (p: {param: Parametrization; width: number; seed: number; done: number; total: number}) => void
}

export async function coordCheck(o: CoordCheckOptions): Promise<CoordRow[]> {
  const headSize = o.head_size ?? 16
  const widths = checkWidths(o.widths, headSize)
  const params = o.params ?? ['sp', 'mup']
  const steps = o.steps ?? 3
  const lr = o.lr ?? 1e-2
  const seeds = o.seeds ?? [0]
  const batch = o.batch ?? 8
  const seq = o.seq ?? 32
  const ladder = {widths, n_layer: o.n_layer ?? 2, head_size: headSize, vocab_size: o.tokens.vocabSize, n_positions: seq, model: o.model}
  const total = params.length * widths.length * seeds.length
  let done = 0
  const rows: CoordRow[] = []
  for (const param of params) {
    for (const width of widths) {
      const sums = new Map<string, number>() // `${step}\t${probe}` → Σ over seeds
      for (const seed of seeds) {
        const c = ladderModel(ladder, width, param)
        const schema = schemaOf(c)
        const weights: Weights = initWeights(schema, seed, initStds(c, schema))
        const opt = new AdamW(schema, {beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0}, lrMultipliers(c, schema))
        const sampler = new BatchSampler(o.tokens, {batch, seq, seed})
        const probeBatch = new BatchSampler(o.tokens, {batch, seq, seed: seed + 0x9e3779b9}).sample(0)
        for (let step = 0; step <= steps; step++) {
          tf.tidy(() => {
            const p = new Map(schema.map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape, 'float32')]))
            forward(c, p, probeBatch.inputs, batch, seq, (name, t) => {
              const k = `${step}\t${name}`
              sums.set(k, (sums.get(k) ?? 0) + tf.mean(tf.abs(t)).dataSync()[0])
            })
          })
          if (step === steps) break
          const grads: Weights = new Map()
          lossAndGrads(c, schema, weights, sampler.sample(step), grads)
          opt.update(weights, grads, lr)
        }
        done++
        o.onProgress?.({param, width, seed, done, total})
        await new Promise((resolve) => setImmediate(resolve)) // let progress output and signals through
      }
      for (const [k, sum] of sums) {
        const [step, probe] = k.split('\t')
        rows.push({param, width, step: Number(step), probe, kind: kindOf(probe), value: sum / seeds.length})
      }
    }
  }
  return rows
}

export interface CoordSpread {
  param: Parametrization
  probe: string
  kind: ProbeKind
  step: number
  /** value at the largest width / value at the smallest. */
  ratio: number
  /** Slope of log2(value) against log2(width) by least squares (0 = flat; 1 = grows like width). */
  slope: number
}

/** How much each probe moves across widths at one step (default: the last). */
export function coordSpread(rows: readonly CoordRow[], step?: number): CoordSpread[] {
  const last = step ?? Math.max(...rows.map((r) => r.step))
  const groups = new Map<string, CoordRow[]>()
  for (const r of rows) {
    if (r.step !== last) continue
    const k = `${r.param}\t${r.probe}`
    groups.set(k, [...(groups.get(k) ?? []), r])
  }
  const out: CoordSpread[] = []
  for (const g of groups.values()) {
    g.sort((a, b) => a.width - b.width)
    const xs = g.map((r) => Math.log2(r.width))
    const ys = g.map((r) => Math.log2(r.value))
    const mx = mean(xs)
    const my = mean(ys)
    const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0)
    const slope = sxx > 0 ? xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / sxx : 0
    out.push({param: g[0].param, probe: g[0].probe, kind: g[0].kind, step: last, ratio: g.at(-1)!.value / g[0].value, slope})
  }
  return out
}

function kindOf(probe: string): ProbeKind {
  if (probe === 'embed' || probe === 'logits') return probe
  return probe.endsWith('.attn_logits') ? 'attn_logits' : 'resid'
}

function mean(a: number[]): number {
  return a.reduce((s, x) => s + x, 0) / a.length
}
