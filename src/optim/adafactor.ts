/**
 * Adafactor (Shazeer & Stern 2018, arXiv 1804.04235), as Hugging Face's/fairseq's `Adafactor`, with decoupled
 * weight decay and per-tensor LR multipliers (µP) applied as in AdamW. Also the factored-statistics kernels
 * that CAME (came.ts) builds on.
 *
 * A tensor of ≥ 2 dims is factored over its last two, [.., R, C] (leading dims are a batch of matrices, as the
 * reference implementations do); vectors keep a full second moment. At 1-based step t, with ε1 = eps and
 * d = clip_threshold, for each tensor with multiplier μ:
 *   β̂2  = min(beta2, 1 − t^decay_rate)              (decay_rate −0.8: β̂2 = 0 at t = 1; beta2 = 1: no cap)
 *   matrix: r ← β̂2·r + (1−β̂2)·mean_j(g² + ε1)  [R]    c ← β̂2·c + (1−β̂2)·mean_i(g² + ε1)  [C]
 *           v_ij = r_i·c_j / mean(r)                (the paper's rank-1 estimate, with sums: r c / 1ᵀr)
 *   vector: v ← β̂2·v + (1−β̂2)·(g² + ε1)
 *   u = g/√v ;  û = u / max(1, RMS(u)/d)
 *   α = lr·μ, × max(eps2, RMS(θ)) with scale_parameter
 *   θ ← θ·(1 − lr·μ·wd)   (decaying tensors only)
 *   beta1 = 0 (default):  θ ← θ − α·û
 *   beta1 > 0:            m ← β1·m + (1−β1)·α·û ;  θ ← θ − m     (momentum after the step size, as HF/fairseq)
 *
 * The step size. The paper's relative step ρ_t = min(1e-2, 1/√t) is replaced by `lr` from the run's schedule
 * (warmup + decay), so `lr` means the same absolute step for all three optimizers and the µP multipliers
 * (Adam column: Adafactor without parameter scaling is Adam-like) apply unchanged. `scale_parameter: true` opts
 * into the paper's parameter-relative step α = lr·max(eps2, RMS(θ)); `lr` is then the relative step (the
 * paper's 1e-2), and µP would want hidden LRs scaled like 1/√fan_in instead (TP5 Table 8). Weight decay always
 * uses lr·μ·wd (not α), as AdamW. No bias correction (β̂2 = 0 at t = 1 makes none necessary).
 *
 * State (fp32): matrices r (R floats) and c (C floats) per matrix — the row and column *means* of the EMA of
 * g² + ε1, as the reference code keeps them; vectors v (full); m (full) only when beta1 > 0.
 *
 * The loops below are the reference and the fallback: with the native addon loaded each tensor goes to its
 * `adafactorUpdateMatrix` / `adafactorUpdateVector` (native/optim_factored.cc: the same operations, threaded and
 * vectorised).
 */
import {factoredOptimAddon} from '../compute/optim-kernels.js'
import {type Schema, decays, numel} from '../model/schema.js'
import type {Tensors} from './index.js'
import {StatefulOptimizer} from './state.js'

export interface AdafactorConfig {
  beta1: number
  /** Cap on β̂2_t (1 = the paper's uncapped schedule). */
  beta2: number
  eps1: number
  eps2: number
  clip_threshold: number
  decay_rate: number
  scale_parameter: boolean
  weight_decay: number
}

/** The published defaults (HF/fairseq, paper): ε = (1e-30, 1e-3), d = 1, decay rate −0.8, β1 none. */
export const ADAFACTOR_DEFAULTS = {
  beta1: 0,
  beta2: 1,
  eps: 1e-30,
  eps2: 1e-3,
  clip_threshold: 1,
  decay_rate: -0.8,
  scale_parameter: false,
} as const

export class Adafactor extends StatefulOptimizer {
  readonly kind = 'adafactor'
  private readonly scratch: Scratch

  constructor(
    readonly schema: Schema,
    readonly cfg: AdafactorConfig,
    readonly lrMult: Map<string, number> = new Map(),
    /** Per-tensor weight-decay multipliers (µP keeps lr·λ width-independent); missing names mean 1. */
    readonly wdMult: Map<string, number> = new Map(),
  ) {
    super()
    for (const p of schema) {
      const mats = matsOf(p.shape)
      if (mats) {
        this.state.add('v_row', p.name, mats.M * mats.R)
        this.state.add('v_col', p.name, mats.M * mats.C)
      } else {
        this.state.add('v', p.name, numel(p.shape))
      }
      if (cfg.beta1 > 0) this.state.add('m', p.name, numel(p.shape))
    }
    this.scratch = new Scratch(schema)
  }

  update(weights: Tensors, grads: Tensors, lr: number): void {
    this.step++
    const c = this.cfg
    const beta2 = Math.min(c.beta2, 1 - Math.pow(this.step, c.decay_rate))
    const st = this.state
    const addon = factoredOptimAddon() // the native kernels (same math) when the addon is loaded
    for (const p of this.schema) {
      const [w, g] = weightAndGrad('Adafactor', p.name, weights, grads)
      const lrT = lr * (this.lrMult.get(p.name) ?? 1)
      const decay = 1 - lrT * (decays(p) ? c.weight_decay * (this.wdMult.get(p.name) ?? 1) : 0)
      const m = c.beta1 > 0 ? st.get('m', p.name) : null
      const mats = matsOf(p.shape)
      if (addon) {
        if (mats) {
          addon.adafactorUpdateMatrix(w, g, m, st.get('v_row', p.name), st.get('v_col', p.name), mats.M, mats.R, mats.C, lrT, decay,
            c.beta1, beta2, c.eps1, c.eps2, c.clip_threshold, c.scale_parameter)
        } else {
          addon.adafactorUpdateVector(w, g, m, st.get('v', p.name), lrT, decay, c.beta1, beta2, c.eps1, c.eps2, c.clip_threshold,
            c.scale_parameter)
        }
        continue
      }
      const alpha = c.scale_parameter ? lrT * Math.max(c.eps2, rms(w)) : lrT
      if (mats) {
        const s = this.scratch
        emaFactoredSq(g, st.get('v_row', p.name), st.get('v_col', p.name), mats, beta2, c.eps1, s)
        rsqrtFactors(st.get('v_row', p.name), st.get('v_col', p.name), mats, s)
        const clip = clipDivisor(sumSqFactored(g, mats, s.a, s.b), g.length, c.clip_threshold)
        applyFactored(w, g, m, mats, s.a, s.b, alpha / clip, c.beta1, decay)
      } else {
        const v = st.get('v', p.name)
        const clip = clipDivisor(emaSqVector(g, v, beta2, c.eps1), g.length, c.clip_threshold)
        const k = alpha / clip
        for (let i = 0; i < w.length; i++) {
          const u = (k * g[i]) / Math.sqrt(v[i])
          if (m) {
            const mi = c.beta1 * m[i] + (1 - c.beta1) * u
            m[i] = mi
            w[i] = w[i] * decay - mi
          } else {
            w[i] = w[i] * decay - u
          }
        }
      }
    }
  }
}

/** θ ← θ·decay − k·g·a_i·b_j (beta1 = 0), or m ← β1·m + (1−β1)·k·g·a_i·b_j ; θ ← θ·decay − m. */
function applyFactored(
  w: Float32Array, g: Float32Array, m: Float32Array | null, mats: Mats,
  a: Float64Array, b: Float64Array, k: number, beta1: number, decay: number,
): void {
  const {M, R, C} = mats
  for (let mi = 0, row = 0; mi < M; mi++) {
    const b0 = mi * C
    for (let i = 0; i < R; i++, row++) {
      const ka = k * a[row]
      const base = row * C
      if (m) {
        for (let j = 0; j < C; j++) {
          const x = beta1 * m[base + j] + (1 - beta1) * ka * g[base + j] * b[b0 + j]
          m[base + j] = x
          w[base + j] = w[base + j] * decay - x
        }
      } else {
        for (let j = 0; j < C; j++) w[base + j] = w[base + j] * decay - ka * g[base + j] * b[b0 + j]
      }
    }
  }
}

// ---- Shared with CAME: factored statistics, clipping, state bookkeeping ----

/** A tensor as M matrices of R×C (row-major, leading dims batched), or null for a vector (< 2 dims). */
export interface Mats {
  M: number
  R: number
  C: number
}

export function matsOf(shape: readonly number[]): Mats | null {
  if (shape.length < 2) return null
  return {M: numel(shape.slice(0, -2)), R: shape[shape.length - 2], C: shape[shape.length - 1]}
}

/** Per-optimizer scratch, sized for the schema's largest matrix: row/column sums and factors (float64). */
export class Scratch {
  readonly rowSum: Float64Array
  readonly colSum: Float64Array
  /** a_i = 1/√(r_i / mean(r)) for each row of each matrix. */
  readonly a: Float64Array
  /** b_j = 1/√c_j for each column of each matrix. */
  readonly b: Float64Array

  constructor(schema: Schema) {
    let rows = 0
    let cols = 0
    for (const p of schema) {
      const m = matsOf(p.shape)
      if (m) {
        rows = Math.max(rows, m.M * m.R)
        cols = Math.max(cols, m.M * m.C)
      }
    }
    this.rowSum = new Float64Array(rows)
    this.colSum = new Float64Array(cols)
    this.a = new Float64Array(rows)
    this.b = new Float64Array(cols)
  }
}

/**
 * row ← β·row + (1−β)·mean_j(x² + eps) and col ← β·col + (1−β)·mean_i(x² + eps), per matrix.
 * row: M·R floats, col: M·C floats.
 */
export function emaFactoredSq(x: Float32Array, row: Float32Array, col: Float32Array, mats: Mats, beta: number, eps: number, s: Scratch): void {
  const {M, R, C} = mats
  const rs = s.rowSum
  const cs = s.colSum
  cs.fill(0, 0, M * C)
  for (let mi = 0, r = 0; mi < M; mi++) {
    const c0 = mi * C
    for (let i = 0; i < R; i++, r++) {
      const base = r * C
      let acc = 0
      for (let j = 0; j < C; j++) {
        const q = x[base + j] * x[base + j] + eps
        acc += q
        cs[c0 + j] += q
      }
      rs[r] = acc
    }
  }
  emaFromSums(row, col, mats, beta, s)
}

/** row ← β·row + (1−β)·rowSum/C and col ← β·col + (1−β)·colSum/R, from the sums in the scratch. */
export function emaFromSums(row: Float32Array, col: Float32Array, mats: Mats, beta: number, s: Scratch): void {
  const {M, R, C} = mats
  for (let r = 0; r < M * R; r++) row[r] = beta * row[r] + ((1 - beta) * s.rowSum[r]) / C
  for (let c = 0; c < M * C; c++) col[c] = beta * col[c] + ((1 - beta) * s.colSum[c]) / R
}

/**
 * The factors of the rank-1 estimate's inverse square root: 1/√(r_i c_j / mean(r)) = a_i·b_j with
 * a_i = 1/√(r_i / mean(r)) and b_j = 1/√c_j (mean over each matrix's rows).
 */
export function rsqrtFactors(row: Float32Array, col: Float32Array, mats: Mats, s: Scratch): void {
  const {M, R, C} = mats
  const {a, b} = s
  for (let mi = 0; mi < M; mi++) {
    let mean = 0
    for (let i = 0; i < R; i++) mean += row[mi * R + i]
    mean /= R
    for (let i = 0; i < R; i++) a[mi * R + i] = 1 / Math.sqrt(row[mi * R + i] / mean)
  }
  for (let c = 0; c < M * C; c++) b[c] = 1 / Math.sqrt(col[c])
}

/** Σ (x_ij·a_i·b_j)² over all matrices. */
export function sumSqFactored(x: Float32Array, mats: Mats, a: Float64Array, b: Float64Array): number {
  const {M, R, C} = mats
  let total = 0
  for (let mi = 0, r = 0; mi < M; mi++) {
    const b0 = mi * C
    for (let i = 0; i < R; i++, r++) {
      const base = r * C
      let acc = 0
      for (let j = 0; j < C; j++) {
        const u = x[base + j] * b[b0 + j]
        acc += u * u
      }
      total += acc * a[r] * a[r]
    }
  }
  return total
}

/** v ← β·v + (1−β)·(g² + eps) elementwise; returns Σ g²/v (the squared norm of u = g/√v). */
export function emaSqVector(g: Float32Array, v: Float32Array, beta: number, eps: number): number {
  let total = 0
  for (let i = 0; i < g.length; i++) {
    const vi = Math.fround(beta * v[i] + (1 - beta) * (g[i] * g[i] + eps))
    v[i] = vi
    total += (g[i] * g[i]) / vi
  }
  return total
}

/** Update clipping: the divisor max(1, RMS(u)/d) for an update u with squared norm sumSq over n values. */
export function clipDivisor(sumSq: number, n: number, d: number): number {
  return Math.max(1, Math.sqrt(sumSq / n) / d)
}

export function rms(x: Float32Array): number {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i] * x[i]
  return Math.sqrt(s / x.length)
}

export function weightAndGrad(who: string, name: string, weights: Tensors, grads: Tensors): [Float32Array, Float32Array] {
  const w = weights.get(name)
  const g = grads.get(name)
  if (!w || !g) throw new Error(`${who}.update: missing weight or gradient for ${name}`)
  if (w.length !== g.length) throw new RangeError(`${who}.update: ${name} has ${w.length} weights but ${g.length} gradients`)
  return [w, g]
}

