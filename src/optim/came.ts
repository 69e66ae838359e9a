/**
 * CAME: Confidence-guided Adaptive Memory Efficient optimization (Luo et al., ACL 2023, arXiv 2307.02047),
 * paper Algorithm 2 as the official `came_pytorch/CAME.py` (yangluo7/CAME e77c5c0, with the in-place fix of
 * b368dc0), with per-tensor LR multipliers μ (µP) scaling the step and the decay term alike, as AdamW.
 *
 * Matrices ([.., R, C], factored over the last two dims as in adafactor.ts), with ε1 = eps, d = clip_threshold:
 *   r ← β2·r + (1−β2)·mean_j(g² + ε1)   c ← β2·c + (1−β2)·mean_i(g² + ε1)      v_ij = r_i c_j / mean(r)
 *   u = g/√v ;  û = u / max(1, RMS(u)/d)
 *   m ← β1·m + (1−β1)·û
 *   U = (û − m)² + ε2                                                   (instability, with the new m)
 *   R ← β3·R + (1−β3)·mean_j U           C ← β3·C + (1−β3)·mean_i U               S_ij = R_i C_j / mean(R)
 *   θ ← θ·(1 − lr·μ·wd) − lr·μ·m/√S                                     (confidence-guided step)
 * Vectors (biases, norm gains): v ← β2·v + (1−β2)·(g² + ε1) in full, u, û and m as above, and θ ← θ·(1 − lr·μ·wd)
 * − lr·μ·m: no confidence term, as the reference.
 *
 * No bias correction anywhere (as the paper): early steps are ≈(1−β1ᵗ)/√(1−β3ᵗ) times the steady-state size
 * (≈11× at t = 1, still ≈6× at t = 300 with β3 = 0.9999), so use LR warmup and a lower LR than AdamW's: the
 * authors advise 0.5–0.9× for long pre-training runs; for short runs less (bench/optim.ts, 300 steps of gpt-tiny
 * on Brown: 0.1× AdamW's LR matched AdamW's validation loss, 1× was 12% worse), or a smaller beta3.
 *
 * State (fp32): m (full); matrices r, c, R, C (row and column means: R + C floats each); vectors v (full).
 *
 * The loops below are the reference and the fallback: with the native addon loaded each tensor goes to its
 * `cameUpdateMatrix` / `cameUpdateVector` (native/optim_factored.cc: the same operations, threaded and vectorised).
 */
import {factoredOptimAddon} from '../compute/optim-kernels.js'
import {type Schema, decays, numel} from '../model/schema.js'
import {
  Scratch, clipDivisor, emaFactoredSq, emaFromSums, emaSqVector, matsOf, rsqrtFactors, sumSqFactored, weightAndGrad,
} from './adafactor.js'
import type {Tensors} from './index.js'
import {StatefulOptimizer} from './state.js'

export interface CameConfig {
  beta1: number
  beta2: number
  beta3: number
  eps1: number
  eps2: number
  clip_threshold: number
  weight_decay: number
}

/** The official defaults: betas (0.9, 0.999, 0.9999), eps (1e-30, 1e-16), clip threshold 1. */
export const CAME_DEFAULTS = {beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps: 1e-30, eps2: 1e-16, clip_threshold: 1} as const

export class CAME extends StatefulOptimizer {
  readonly kind = 'came'
  private readonly scratch: Scratch

  constructor(
    readonly schema: Schema,
    readonly cfg: CameConfig,
    readonly lrMult: Map<string, number> = new Map(),
    /** Per-tensor weight-decay multipliers (µP keeps lr·λ width-independent); missing names mean 1. */
    readonly wdMult: Map<string, number> = new Map(),
  ) {
    super()
    for (const p of schema) {
      const mats = matsOf(p.shape)
      this.state.add('m', p.name, numel(p.shape))
      if (mats) {
        this.state.add('v_row', p.name, mats.M * mats.R)
        this.state.add('v_col', p.name, mats.M * mats.C)
        this.state.add('res_row', p.name, mats.M * mats.R)
        this.state.add('res_col', p.name, mats.M * mats.C)
      } else {
        this.state.add('v', p.name, numel(p.shape))
      }
    }
    this.scratch = new Scratch(schema)
  }

  update(weights: Tensors, grads: Tensors, lr: number): void {
    this.step++
    const c = this.cfg
    const st = this.state
    const b1 = c.beta1
    const addon = factoredOptimAddon() // the native kernels (same math) when the addon is loaded
    for (const p of this.schema) {
      const [w, g] = weightAndGrad('CAME', p.name, weights, grads)
      const lrT = lr * (this.lrMult.get(p.name) ?? 1)
      const decay = 1 - lrT * (decays(p) ? c.weight_decay * (this.wdMult.get(p.name) ?? 1) : 0)
      const m = st.get('m', p.name)
      const mats = matsOf(p.shape)
      if (addon) {
        if (mats) {
          addon.cameUpdateMatrix(w, g, m, st.get('v_row', p.name), st.get('v_col', p.name), st.get('res_row', p.name),
            st.get('res_col', p.name), mats.M, mats.R, mats.C, lrT, decay, b1, c.beta2, c.beta3, c.eps1, c.eps2, c.clip_threshold)
        } else {
          addon.cameUpdateVector(w, g, m, st.get('v', p.name), lrT, decay, b1, c.beta2, c.eps1, c.clip_threshold)
        }
        continue
      }
      if (!mats) {
        const v = st.get('v', p.name)
        const k = 1 / clipDivisor(emaSqVector(g, v, c.beta2, c.eps1), g.length, c.clip_threshold)
        for (let i = 0; i < w.length; i++) {
          const mi = Math.fround(b1 * m[i] + ((1 - b1) * k * g[i]) / Math.sqrt(v[i]))
          m[i] = mi
          w[i] = w[i] * decay - lrT * mi
        }
        continue
      }
      const s = this.scratch
      const {M, R, C} = mats
      // Second moment: factored EMA of g² + ε1, then û = u / max(1, RMS(u)/d) with u = g·a_i·b_j.
      const vRow = st.get('v_row', p.name)
      const vCol = st.get('v_col', p.name)
      emaFactoredSq(g, vRow, vCol, mats, c.beta2, c.eps1, s)
      rsqrtFactors(vRow, vCol, mats, s)
      const k = 1 / clipDivisor(sumSqFactored(g, mats, s.a, s.b), g.length, c.clip_threshold)
      // Momentum of û, and the row/column sums of the instability U = (û − m)² + ε2.
      const {a, b, rowSum, colSum} = s
      const eps2 = c.eps2
      colSum.fill(0, 0, M * C)
      for (let mi = 0, r = 0; mi < M; mi++) {
        const c0 = mi * C
        for (let i = 0; i < R; i++, r++) {
          const ka = k * a[r]
          const base = r * C
          let acc = 0
          for (let j = 0; j < C; j++) {
            const u = ka * g[base + j] * b[c0 + j]
            const mj = Math.fround(b1 * m[base + j] + (1 - b1) * u)
            m[base + j] = mj
            const q = (u - mj) * (u - mj) + eps2
            acc += q
            colSum[c0 + j] += q
          }
          rowSum[r] = acc
        }
      }
      const resRow = st.get('res_row', p.name)
      const resCol = st.get('res_col', p.name)
      emaFromSums(resRow, resCol, mats, c.beta3, s)
      rsqrtFactors(resRow, resCol, mats, s) // now a, b factor 1/√S
      for (let mi = 0, r = 0; mi < M; mi++) {
        const c0 = mi * C
        for (let i = 0; i < R; i++, r++) {
          const la = lrT * a[r]
          const base = r * C
          for (let j = 0; j < C; j++) w[base + j] = w[base + j] * decay - la * m[base + j] * b[c0 + j]
        }
      }
    }
  }
}
