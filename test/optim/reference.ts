/**
 * Straightforward float64 reference implementations of CAME and Adafactor, written from the papers' equations
 * (CAME: Luo et al. 2023, Algorithm 2; Adafactor: Shazeer & Stern 2018, Algorithms 4–5 with update clipping),
 * independent of src/optim: matrices as arrays of rows, row and column statistics as the papers' *sums*
 * (r = (G² + ε1)·1ₘ, c = 1ₙᵀ·(G² + ε1), V = r cᵀ / 1ᵀr) rather than the implementation's means, and the full
 * matrices V and S built explicitly. A tensor of shape [..., n, m] is a list of n×m matrices; a vector is a list
 * of one 1×k row with a full (not factored) second moment.
 */
export type Mat = number[][]

export interface RefTensor {
  name: string
  /** Matrices (a vector is one 1×k matrix with factored = false). */
  theta: Mat[]
  factored: boolean
  decays: boolean
  mult: number
}

const zeros = (n: number, m: number): Mat => Array.from({length: n}, () => new Array<number>(m).fill(0))
const map = (a: Mat, f: (x: number, i: number, j: number) => number): Mat => a.map((row, i) => row.map((x, j) => f(x, i, j)))
const rowSums = (a: Mat) => a.map((row) => row.reduce((s, x) => s + x, 0))
const colSums = (a: Mat) => a[0].map((_, j) => a.reduce((s, row) => s + row[j], 0))
const sum = (v: number[]) => v.reduce((s, x) => s + x, 0)
const rmsOf = (mats: Mat[]) => {
  const all = mats.flatMap((a) => a.flat())
  return Math.sqrt(all.reduce((s, x) => s + x * x, 0) / all.length)
}

/** V = r cᵀ / (1ᵀ r): the paper's rank-1 estimate. */
function rank1(r: number[], c: number[]): Mat {
  const total = sum(r)
  return r.map((ri) => c.map((cj) => (ri * cj) / total))
}

/**
 * u = g / √V̂ per matrix, updating the second-moment statistics in `s` with decay b2: row and column sums of
 * g² + ε1 and V̂ = rank1(r, c) when factored, else the full V. Shared by both references (the same equation).
 */
function scaledByRms(factored: boolean, grad: Mat[], s: {r: number[][]; c: number[][]; v: Mat[]}, b2: number, eps1: number): Mat[] {
  return grad.map((g, k) => {
    const sq = map(g, (x) => x * x + eps1)
    let v: Mat
    if (factored) {
      s.r[k] = rowSums(sq).map((x, i) => b2 * s.r[k][i] + (1 - b2) * x)
      s.c[k] = colSums(sq).map((x, j) => b2 * s.c[k][j] + (1 - b2) * x)
      v = rank1(s.r[k], s.c[k])
    } else {
      s.v[k] = map(sq, (x, i, j) => b2 * s.v[k][i][j] + (1 - b2) * x)
      v = s.v[k]
    }
    return map(g, (x, i, j) => x / Math.sqrt(v[i][j]))
  })
}

export interface CameHyper {
  beta1: number
  beta2: number
  beta3: number
  eps1: number
  eps2: number
  d: number
  wd: number
}

/** Per-matrix state of the CAME reference: row/column sums r, c, R, C; full V for vectors; momentum m. */
export interface CameRefState {
  m: Mat[]
  r: number[][]
  c: number[][]
  R: number[][]
  C: number[][]
  v: Mat[]
}

export class CameRef {
  readonly state = new Map<string, CameRefState>()

  constructor(readonly h: CameHyper) {}

  step(t: RefTensor, grad: Mat[], lr: number): void {
    const h = this.h
    const n = grad[0].length
    const m = grad[0][0].length
    let s = this.state.get(t.name)
    if (!s) {
      s = {
        m: grad.map(() => zeros(n, m)),
        r: grad.map(() => new Array<number>(n).fill(0)),
        c: grad.map(() => new Array<number>(m).fill(0)),
        R: grad.map(() => new Array<number>(n).fill(0)),
        C: grad.map(() => new Array<number>(m).fill(0)),
        v: grad.map(() => zeros(n, m)),
      }
      this.state.set(t.name, s)
    }
    const u = scaledByRms(t.factored, grad, s, h.beta2, h.eps1)
    const clip = Math.max(1, rmsOf(u) / h.d)
    const eta = lr * t.mult
    for (let k = 0; k < grad.length; k++) {
      const uh = map(u[k], (x) => x / clip)
      s.m[k] = map(uh, (x, i, j) => h.beta1 * s.m[k][i][j] + (1 - h.beta1) * x)
      let step: Mat
      if (t.factored) {
        const U = map(uh, (x, i, j) => (x - s.m[k][i][j]) ** 2 + h.eps2)
        s.R[k] = rowSums(U).map((x, i) => h.beta3 * s.R[k][i] + (1 - h.beta3) * x)
        s.C[k] = colSums(U).map((x, j) => h.beta3 * s.C[k][j] + (1 - h.beta3) * x)
        const S = rank1(s.R[k], s.C[k])
        step = map(s.m[k], (x, i, j) => x / Math.sqrt(S[i][j]))
      } else {
        step = s.m[k]
      }
      const decay = t.decays ? eta * h.wd : 0
      t.theta[k] = map(t.theta[k], (x, i, j) => x - decay * x - eta * step[i][j])
    }
  }
}

export interface AdafactorHyper {
  beta1: number
  /** Cap on β̂2_t. */
  beta2: number
  eps1: number
  eps2: number
  d: number
  decayRate: number
  scaleParameter: boolean
  wd: number
}

export class AdafactorRef {
  readonly state = new Map<string, {r: number[][]; c: number[][]; v: Mat[]; m: Mat[]}>()
  t = 0

  constructor(readonly h: AdafactorHyper) {}

  /** Call once per update, before step() on each tensor. */
  tick(): void {
    this.t++
  }

  step(t: RefTensor, grad: Mat[], lr: number): void {
    const h = this.h
    const n = grad[0].length
    const m = grad[0][0].length
    let s = this.state.get(t.name)
    if (!s) {
      s = {
        r: grad.map(() => new Array<number>(n).fill(0)),
        c: grad.map(() => new Array<number>(m).fill(0)),
        v: grad.map(() => zeros(n, m)),
        m: grad.map(() => zeros(n, m)),
      }
      this.state.set(t.name, s)
    }
    const b2 = Math.min(h.beta2, 1 - this.t ** h.decayRate)
    const u = scaledByRms(t.factored, grad, s, b2, h.eps1)
    const clip = Math.max(1, rmsOf(u) / h.d)
    const eta = lr * t.mult
    const alpha = h.scaleParameter ? eta * Math.max(h.eps2, rmsOf(t.theta)) : eta
    for (let k = 0; k < grad.length; k++) {
      let step = map(u[k], (x) => (alpha * x) / clip)
      if (h.beta1 > 0) {
        s.m[k] = map(step, (x, i, j) => h.beta1 * s.m[k][i][j] + (1 - h.beta1) * x)
        step = s.m[k]
      }
      const decay = t.decays ? eta * h.wd : 0
      t.theta[k] = map(t.theta[k], (x, i, j) => x - decay * x - step[i][j])
    }
  }
}
