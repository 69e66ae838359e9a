/**
 * Shared-QK LSH attention, as in Reformer (Kitaev, Kaiser & Levskaya, ICLR 2020, §2 and App. A; research notes
 * /work/shared/research/mup_came_reformer.md §4.3). Two implementations of one function: `lshAttention`, tfjs
 * gathers plus one custom op with a hand-written backward (JS loops around tfjs matmuls, so the native backend's
 * GEMM does the heavy part), and `lshAttentionReference`, plain tfjs ops differentiated by autodiff; the tests
 * check they agree, value and gradient. Both run on every backend.
 *
 *  - Shared QK: keys are the unit-normalised queries, k_j = q_j/‖q_j‖; logits q_i·k_j·scale.
 *  - Hash (angular LSH): for each round r a Gaussian R_r [HS, nb/2]; h(x) = argmax([x·R_r ; −x·R_r]), nb buckets
 *    (nb = 1: one bucket, no hashing). Factorised (trax `hash_vecs`), buckets [f1, f2, …]: R_r [HS, Σf/2] is cut
 *    into column blocks of f_i/2, each hashed alone, and h = d1 + f1·d2 + f1·f2·d3 + … (nb = Πf); `lshGeometry`
 *    derives the buckets from the length as trax does: chunk length m fixed, nb = 2·⌊T/m⌋, factorised into two
 *    powers of two beyond 128 buckets, so the chunk (and the work per token) no longer grows with T.
 *    The paper redraws the rotations at every call; here they are fixed per
 *    (seed, salt = the layer, round), so a forward pass is a deterministic function of its inputs: evaluation and
 *    resumed runs repeat exactly, the reversible backward's recomputation sees the same buckets (it also reuses
 *    the forward's plan, see `LshPlan`), and a sequence hashes the same alone or in a batch.
 *  - Sort each round's positions by (bucket, position), cut the sorted order into chunks of m; a query attends to
 *    its own chunk and the one before (no wrap-around), causally (key position ≤ query position), and not to itself
 *    unless nothing else is available (self logit −1e5, masked logits −1e9: finite, as in the paper).
 *  - Multi-round: each round r gives o_r and its log-normaliser z_r; o = Σ_r exp(z_r − logsumexp_r z)·o_r, with the
 *    paper's duplicate correction (a key seen in N_ij rounds gets −log N_ij in each), so the result is attention
 *    over the union of the rounds' candidate sets (App. A, eqs. 12–16).
 * Consequences used by the tests: with one chunk covering the whole sequence (nb ≤ 2, or m ≥ T) LSH attention is
 * exactly `sharedQkAttention`; as rounds are added the candidate sets grow and the error shrinks. The causal mask
 * keeps every output a mixture of earlier values only, but (as in the paper) which earlier positions are candidates
 * depends on where later positions sort, since they shift the chunk boundaries.
 *
 * Memory, linear in T: what the backward keeps is [G·T, HS] (sorted queries, key and value windows, G = B·NH·H);
 * logits and probabilities [G·T, 2m] exist only inside the custom op, one at a time.
 * Shapes: B batch, NH heads, T time, HS head size, H hash rounds, nb buckets, m chunk length, nc = ⌈T/m⌉ chunks,
 * Tp = nc·m (sorted length with padding), G = B·NH·H groups.
 */
import * as tf from '@tensorflow/tfjs-core'
import './gradients.js'

import {Rng} from '../data/rng.js'
import {customOp} from './chunked.js'
import {embedding} from './ops.js'

export interface LshOptions {
  /** Buckets per round: 1 (no hashing) or even (angular LSH hashes into ±R columns); a list of even factors hashes
   *  each factor on its own block of rotation columns and combines the digits (trax's factorised hashing). */
  buckets: number | readonly number[]
  /** Hash rounds H ≥ 1. */
  hashes: number
  /** Chunk length m; default the paper's 2T/nb (at most T). */
  chunk?: number
  /** Seed of the random rotations (default 0). */
  seed?: number
  /** Mixed into the rotation seed, e.g. the layer index, so layers hash differently. */
  salt?: number
}

/** The bucket sort of one call: which positions each round's sorted slots hold. Pure data, no tensors. */
export interface LshPlan {
  B: number
  NH: number
  T: number
  H: number
  m: number
  nc: number
  Tp: number
  /** sorted[g·Tp + s]: the position at sorted slot s of group g = (b·NH + h)·H + r, or −1 for padding. */
  sorted: Int32Array
  /** slot[g·T + t]: the sorted slot of position t in group g. */
  slot: Int32Array
}

const MASKED = -1e9
const SELF = -1e5
/** ε on ‖q‖² when normalising keys (trax's length_normalized uses 1e-6). */
const NORM_EPS = 1e-6

/** The paper's chunk length 2T/nb, rounded up, within [1, T]. */
export function lshChunkLength(T: number, buckets: number): number {
  return Math.max(1, Math.min(T, Math.ceil((2 * T) / buckets)))
}

/** Above this many buckets a derived count is factorised (trax LSHSelfAttention.hash_vectors). */
export const LSH_MAX_UNFACTORED = 128

/**
 * trax's buckets for length T and chunk length m: nb = 2·max(1, ⌊T/m⌋) (average bucket m/2, so a chunk holds about
 * two buckets, the paper's m = 2T/nb); beyond 128, two even factors [2^⌈log2 √nb⌉, 2·⌊nb / (2·that)⌋].
 */
export function lshAutoBuckets(T: number, m: number): number | number[] {
  const nb = 2 * Math.max(1, Math.floor(T / m))
  if (nb <= LSH_MAX_UNFACTORED) return nb
  const div = 2 ** Math.ceil(Math.log2(Math.sqrt(nb)))
  return [div, 2 * Math.floor(nb / (2 * div))]
}

/**
 * The buckets and chunk length of a model's LSH attention at length T: `lsh_buckets` 0 derives the buckets from
 * the fixed chunk length `lsh_chunk` (the default: linear in T); a fixed `lsh_buckets` with `lsh_chunk` 0 gives the
 * paper's chunk 2T/nb (configs saved before lsh_chunk existed), with both fixed both are used as given.
 */
export function lshGeometry(T: number, c: {lsh_buckets: number; lsh_chunk: number}): {buckets: number | number[]; chunk: number} {
  if (c.lsh_buckets === 0) {
    const chunk = Math.min(T, c.lsh_chunk)
    return {buckets: lshAutoBuckets(T, chunk), chunk}
  }
  return {buckets: c.lsh_buckets, chunk: c.lsh_chunk > 0 ? Math.min(T, c.lsh_chunk) : lshChunkLength(T, c.lsh_buckets)}
}

/** Hashes qk [B,NH,T,HS] (read from the tensor, not differentiated) and sorts each round by (bucket, position). */
export function lshPlan(qk: tf.Tensor4D, o: LshOptions): LshPlan {
  const [B, NH, T] = qk.shape
  const {bucket, nb} = lshBuckets(qk, o)
  const H = o.hashes
  const m = o.chunk ?? lshChunkLength(T, nb)
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`LSH chunk length ${m}: expected an integer ≥ 1`)
  const nc = Math.ceil(T / m)
  const Tp = nc * m
  const G = B * NH * H
  const sorted = new Int32Array(G * Tp).fill(-1)
  const slot = new Int32Array(G * T)
  const count = new Int32Array(nb + 1)
  for (let g = 0; g < G; g++) {
    // Counting sort by bucket; stable, so ties keep position order.
    const ids = bucket.subarray(g * T, (g + 1) * T)
    count.fill(0)
    for (let t = 0; t < T; t++) count[ids[t] + 1]++
    for (let j = 0; j < nb; j++) count[j + 1] += count[j]
    for (let t = 0; t < T; t++) {
      const s = count[ids[t]]++
      sorted[g * Tp + s] = t
      slot[g * T + t] = s
    }
  }
  return {B, NH, T, H, m, nc, Tp, sorted, slot}
}

/**
 * The hash of qk [B,NH,T,HS] (read from the tensor, not differentiated): bucket[g·T + t] of position t in group
 * g = (b·NH + h)·H + r, in [0, nb) with nb = the product of the factors.
 */
export function lshBuckets(qk: tf.Tensor4D, o: LshOptions): {bucket: Int32Array; nb: number} {
  const [B, NH, T, HS] = qk.shape
  const factors = typeof o.buckets === 'number' ? [o.buckets] : [...o.buckets]
  const nb = factors.reduce((a, f) => a * f, 1)
  const H = o.hashes
  if (factors.length === 0 || factors.some((f) => !Number.isInteger(f) || f < 1 || (f > 1 && f % 2 !== 0)) || (factors.length > 1 && factors.includes(1)))
    throw new RangeError(`LSH buckets ${factors.join('×')}: expected 1 or an even number (or even factors)`)
  if (nb > 2 ** 24) throw new RangeError(`LSH buckets ${factors.join('×')} = ${nb}: at most 2^24`)
  if (!Number.isInteger(H) || H < 1) throw new RangeError(`LSH hashes ${H}: expected an integer ≥ 1`)
  const bucket = new Int32Array(B * NH * H * T)
  if (nb === 1) return {bucket, nb}
  const q = qk.dataSync() as Float32Array
  // R[r] is [HS, Σf/2], row-major; shared by all sequences and heads (trax shares them across heads too). With one
  // factor it is the [HS, nb/2] of unfactorised hashing, drawn identically.
  const half = factors.reduce((a, f) => a + f / 2, 0)
  const rot: Float32Array[] = []
  for (let r = 0; r < H; r++) {
    const rng = Rng.derive(o.seed ?? 0, o.salt ?? 0, r)
    rot.push(Float32Array.from({length: HS * half}, () => rng.normal()))
  }
  const proj = new Float64Array(half)
  for (let bh = 0; bh < B * NH; bh++) {
    const base = bh * T * HS
    for (let r = 0; r < H; r++) {
      const R = rot[r]
      const out = (bh * H + r) * T
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < half; j++) {
          let d = 0
          for (let k = 0; k < HS; k++) d += q[base + t * HS + k] * R[k * half + j]
          proj[j] = d
        }
        // Per factor f (its block of f/2 columns): argmax over [x·R, −x·R], the column with the largest |x·R_j| on
        // the + or − side; the digits combine as d1 + f1·d2 + f1·f2·d3 + ...
        let id = 0
        let place = 1
        let col = 0
        for (const f of factors) {
          const fh = f / 2
          let best = -Infinity
          let arg = 0
          for (let j = 0; j < fh; j++) {
            const d = proj[col + j]
            if (d > best) { best = d; arg = j }
            if (-d > best) { best = -d; arg = j + fh }
          }
          id += place * arg
          place *= f
          col += fh
        }
        bucket[out + t] = id
      }
    }
  }
  return {bucket, nb}
}

/**
 * LSH attention of shared query/keys qk and values v [B,NH,T,HS] → [B,NH,T,HS]. `plan` (from `lshPlan` on the same
 * qk) fixes the buckets: differentiating with a fixed plan is exact, and reusing it in a recomputation keeps the
 * function the forward pass computed.
 *
 * After the gathers that sort and chunk (tfjs ops), everything is one custom op (`lshCore`): windowed softmax
 * attention, unsorting and the combination of the rounds. Its forward keeps only its inputs (sorted queries, key and
 * value windows: [G·T, HS]-sized) and its backward recomputes the probabilities, so no [G·T, 2m] tensor outlives the
 * op (as separate tfjs ops, every intermediate and its gradient would live until the whole backward pass ends).
 * The mask is computed row by row from the plan, never stored. `lshAttentionReference` is the same function in
 * plain tfjs ops.
 */
export function lshAttention(qk: tf.Tensor4D, v: tf.Tensor4D, scale: number, plan: LshPlan): tf.Tensor4D {
  const {qs, ks, vs} = sortAndChunk(qk, v, plan)
  return lshCore(plan, scale)(qs, ks, vs) as tf.Tensor4D
}

/** `lshAttention` in plain tfjs ops (dense mask, autodiff gradient): the reference the tests compare against. */
export function lshAttentionReference(qk: tf.Tensor4D, v: tf.Tensor4D, scale: number, plan: LshPlan): tf.Tensor4D {
  const [B, NH, T, HS] = qk.shape
  const {H, m, nc, Tp} = plan
  const BNH = B * NH
  const G = BNH * H
  const {qs, ks, vs} = sortAndChunk(qk, v, plan, true)
  const logits = tf.add(tf.mul(tf.matMul(qs, ks, false, true), scale), tf.tensor3d(denseBias(plan), [G * nc, m, 2 * m]))
  const lse = tf.logSumExp(logits, -1, true) // [G·nc, m, 1]: each round's log-normaliser z_r
  const out = tf.matMul(tf.exp(tf.sub(logits, lse)), vs) // [G·nc, m, HS]
  // Back to position order: row g·Tp + slot → [BNH, H, T, ·].
  const back = lshIndices(plan).unsort
  const o = tf.reshape(gatherRows(tf.reshape(out, [G * Tp, HS]) as tf.Tensor2D, back), [BNH, H, T, HS])
  const z = tf.reshape(gatherRows(tf.reshape(lse, [G * Tp, 1]) as tf.Tensor2D, back), [BNH, H, T, 1])
  // Round weights exp(z_r − logsumexp_r z), as exp(z_r − max z)/Σ exp(z − max z).
  const e = tf.exp(tf.sub(z, tf.max(z, 1, true)))
  const w = tf.div(e, tf.sum(e, 1, true))
  return tf.reshape(tf.sum(tf.mul(o, w), 1), [B, NH, T, HS]) as tf.Tensor4D
}

/**
 * Sorted queries qs [G·nc, m, HS] and each chunk's key and value window ks, vs [G·nc, 2m, HS] (previous chunk,
 * then own chunk), keys unit-normalised queries.
 */
function sortAndChunk(qk: tf.Tensor4D, v: tf.Tensor4D, plan: LshPlan, reference = false): {qs: tf.Tensor3D; ks: tf.Tensor3D; vs: tf.Tensor3D} {
  const [B, NH, T, HS] = qk.shape
  if (plan.B !== B || plan.NH !== NH || plan.T !== T) throw new Error(`lshAttention: plan is for [${plan.B},${plan.NH},${plan.T}], qk is [${qk.shape}]`)
  const {m, nc} = plan
  const G = B * NH * plan.H
  const {qIdx, kIdx} = lshIndices(plan)
  const qFlat = tf.reshape(qk, [B * NH * T, HS]) as tf.Tensor2D
  return {
    qs: tf.reshape(gatherRows(qFlat, qIdx), [G * nc, m, HS]) as tf.Tensor3D,
    ks: tf.reshape(gatherRows(reference ? unitRowsReference(qFlat) : unitRows(qFlat), kIdx), [G * nc, 2 * m, HS]) as tf.Tensor3D,
    vs: tf.reshape(gatherRows(tf.reshape(v, [B * NH * T, HS]) as tf.Tensor2D, kIdx), [G * nc, 2 * m, HS]) as tf.Tensor3D,
  }
}

/**
 * The custom op (qs [G·nc, m, HS], ks, vs [G·nc, 2m, HS]) → o [B,NH,T,HS]: per round r, softmax attention in the
 * chunk windows with the plan's mask, giving o_r and its log-normaliser z_r at each sorted slot; then, per position,
 * o = Σ_r w_r·o_r with w = softmax_r(z_r). Saves only its inputs; the backward recomputes P, o_r and w:
 *   dO_r = w_r·dO,  dz_r = w_r·⟨dO, o_r − o⟩,  dV = Pᵀ·dO_r,  dP = dO_r·Vᵀ,
 *   dS = P ⊙ (dP − rowsum(dP ⊙ P) + dz)·scale,  dQ = dS·K,  dK = dSᵀ·Q.
 * Log-normalisers stay in float64 (they are near −1e5 in rows that see only themselves).
 */
function lshCore(plan: LshPlan, scale: number): (...inputs: tf.Tensor[]) => tf.Tensor {
  const {B, NH, T, H, m, nc, Tp, slot} = plan
  const BNH = B * NH
  const G = BNH * H
  const GC = G * nc
  const W = 2 * m
  const {sorted} = plan
  // chunkOf[(bnh·H + r)·T + t]: the chunk position t sorts into in round r.
  const chunkOf = Int32Array.from(slot, (x) => Math.floor(x / m))
  const logN = Float64Array.from({length: H + 1}, (_, n) => (n > 0 ? Math.log(n) : 0))
  /**
   * Probabilities P [G·nc·m, 2m] and log-normalisers L [G·Tp] (row g·Tp + slot, as the flattened outputs), the mask
   * applied on the fly: sorted query slot c·m + i of group g against window slots (c−1)·m … (c+1)·m − 1; padding,
   * the missing chunk before chunk 0 and later positions get probability 0 (the −1e9 of the reference underflows
   * to exactly 0 too), itself −1e5, the rest −log N_ij (N_ij: the rounds whose window for the query holds the key).
   * Padding queries get P = 0 (their outputs are never read).
   */
  const probs = (qs: tf.Tensor3D, ks: tf.Tensor3D) => {
    const S = tf.matMul(qs, ks, false, true) // [G·nc, m, 2m]
    const s = S.dataSync() as Float32Array
    const P = new Float32Array(GC * m * W)
    const L = new Float64Array(GC * m)
    const z = new Float64Array(W)
    const cq = new Int32Array(H)
    for (let gc = 0; gc < GC; gc++) {
      const g = Math.floor(gc / nc)
      const c = gc % nc
      const base = g * Tp
      const g0 = Math.floor(g / H) * H
      for (let i = 0; i < m; i++) {
        const pq = sorted[base + c * m + i]
        if (pq < 0) continue
        const row = (gc * m + i) * W
        for (let r = 0; r < H; r++) cq[r] = chunkOf[(g0 + r) * T + pq]
        let mx = -Infinity
        for (let j = 0; j < W; j++) {
          const sk = (c - 1) * m + j
          const pk = sk >= 0 ? sorted[base + sk] : -1
          if (pk < 0 || pk > pq) {
            z[j] = -Infinity
            continue
          }
          let zj = s[row + j] * scale
          if (pk === pq) zj += SELF
          else if (H > 1) {
            let n = 0
            for (let r = 0; r < H; r++) {
              const d = chunkOf[(g0 + r) * T + pk] - cq[r]
              if (d === 0 || d === -1) n++
            }
            zj -= logN[n]
          }
          z[j] = zj
          if (zj > mx) mx = zj
        }
        let sum = 0
        for (let j = 0; j < W; j++) {
          const e = z[j] === -Infinity ? 0 : Math.exp(z[j] - mx)
          z[j] = e
          sum += e
        }
        for (let j = 0; j < W; j++) P[row + j] = z[j] / sum
        L[gc * m + i] = mx + Math.log(sum)
      }
    }
    S.dispose()
    return {P: tf.tensor3d(P, [GC, m, W]), L}
  }
  // For position t of (b,h): visit(bnh, t, rows, w) with each round's output row and weight.
  const rows = new Int32Array(H)
  const w = new Float64Array(H)
  const rounds = (L: Float64Array, visit: (bnh: number, t: number) => void) => {
    for (let bnh = 0; bnh < BNH; bnh++) {
      for (let t = 0; t < T; t++) {
        let zmax = -Infinity
        for (let r = 0; r < H; r++) {
          const g = bnh * H + r
          rows[r] = g * Tp + slot[g * T + t]
          zmax = Math.max(zmax, L[rows[r]])
        }
        let sum = 0
        for (let r = 0; r < H; r++) sum += (w[r] = Math.exp(L[rows[r]] - zmax))
        for (let r = 0; r < H; r++) w[r] /= sum
        visit(bnh, t)
      }
    }
  }
  return customOp(([qs, ks, vs], save) => {
    const HS = qs.shape[2] as number
    const {P, L} = probs(qs as tf.Tensor3D, ks as tf.Tensor3D)
    const Os = tf.matMul(P, vs as tf.Tensor3D) // [G·nc, m, HS]: row g·Tp + slot
    P.dispose()
    const os = Os.dataSync() as Float32Array
    const O = new Float32Array(BNH * T * HS)
    rounds(L, (bnh, t) => {
      const dst = (bnh * T + t) * HS
      for (let r = 0; r < H; r++) for (let d = 0; d < HS; d++) O[dst + d] += w[r] * os[rows[r] * HS + d]
    })
    Os.dispose()
    save([qs, ks, vs])
    return {
      value: tf.tensor4d(O, [B, NH, T, HS]),
      gradFunc: (dy, [q, k, v]) => {
        const {P: P2, L: L2} = probs(q as tf.Tensor3D, k as tf.Tensor3D)
        const Os2 = tf.matMul(P2, v as tf.Tensor3D)
        const os2 = Os2.dataSync() as Float32Array
        const g = dy.dataSync() as Float32Array
        const dOs = new Float32Array(G * Tp * HS) // padding slots keep 0
        const dL = new Float64Array(G * Tp)
        const o = new Float64Array(HS)
        rounds(L2, (bnh, t) => {
          const src = (bnh * T + t) * HS
          o.fill(0)
          for (let r = 0; r < H; r++) for (let d = 0; d < HS; d++) o[d] += w[r] * os2[rows[r] * HS + d]
          for (let r = 0; r < H; r++) {
            let dot = 0
            for (let d = 0; d < HS; d++) {
              dOs[rows[r] * HS + d] = w[r] * g[src + d]
              dot += g[src + d] * (os2[rows[r] * HS + d] - o[d])
            }
            dL[rows[r]] = w[r] * dot
          }
        })
        Os2.dispose()
        const dOsT = tf.tensor3d(dOs, [GC, m, HS])
        const dP = tf.matMul(dOsT, v as tf.Tensor3D, false, true) // [G·nc, m, 2m]
        const p = P2.dataSync() as Float32Array
        const dp = dP.dataSync() as Float32Array
        const dS = new Float32Array(GC * m * W)
        for (let r = 0; r < GC * m; r++) {
          const row = r * W
          let dot = 0
          for (let j = 0; j < W; j++) dot += dp[row + j] * p[row + j]
          const shift = dL[r] - dot
          for (let j = 0; j < W; j++) dS[row + j] = p[row + j] * (dp[row + j] + shift) * scale
        }
        dP.dispose()
        const dsT = tf.tensor3d(dS, [GC, m, W])
        const dq = tf.matMul(dsT, k as tf.Tensor3D) // [G·nc, m, HS]
        const dk = tf.matMul(dsT, q as tf.Tensor3D, true, false) // [G·nc, 2m, HS]
        const dv = tf.matMul(P2, dOsT, true, false) // [G·nc, 2m, HS]
        for (const t of [P2, dOsT, dsT]) t.dispose()
        return [dq, dk, dv]
      },
    }
  })
}

/**
 * The function LSH attention approximates: causal shared-QK attention over all earlier positions, self excluded
 * unless it is the only one (position 0). qk, v [B,NH,T,HS] → [B,NH,T,HS]; memory [B,NH,T,T].
 */
export function sharedQkAttention(qk: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const [B, NH, T, HS] = qk.shape
  const k = tf.reshape(unitRowsReference(tf.reshape(qk, [B * NH * T, HS]) as tf.Tensor2D), [B, NH, T, HS])
  const bias = new Float32Array(T * T)
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) bias[i * T + j] = j > i ? MASKED : j === i ? SELF : 0
  const att = tf.add(tf.mul(tf.matMul(qk, k, false, true), scale), tf.tensor2d(bias, [T, T]))
  return tf.matMul(tf.softmax(att), v) as tf.Tensor4D
}

/** The shared-QK logits q·k̂ᵀ·scale [B,NH,T,T] before masking (for coordinate-check probes). */
export function sharedQkLogits(qk: tf.Tensor4D, scale: number): tf.Tensor4D {
  const [B, NH, T, HS] = qk.shape
  const k = tf.reshape(unitRowsReference(tf.reshape(qk, [B * NH * T, HS]) as tf.Tensor2D), [B, NH, T, HS])
  return tf.mul(tf.matMul(qk, k, false, true), scale) as tf.Tensor4D
}

/**
 * Rows idx of x[R,D] → [n,D]. The gradient is a scatter-add: the native kernel on the native backend (ops.ts
 * `embedding`), elsewhere a loop in JS (tfjs cpu's UnsortedSegmentSum is O(R·n); wasm has none).
 */
function gatherRows(x: tf.Tensor2D, idx: Int32Array): tf.Tensor2D {
  if (tf.getBackend() === 'native') return embedding(x, tf.tensor1d(idx, 'int32'))
  const [R, D] = x.shape
  const op = customOp(([t]) => ({
    value: tf.gather(t, tf.tensor1d(idx, 'int32')),
    gradFunc: (dy) => {
      const g = dy.dataSync() as Float32Array
      const dx = new Float32Array(R * D)
      for (let n = 0; n < idx.length; n++) {
        const src = n * D
        const dst = idx[n] * D
        for (let d = 0; d < D; d++) dx[dst + d] += g[src + d]
      }
      return [tf.tensor2d(dx, [R, D])]
    },
  }))
  return op(x) as tf.Tensor2D
}

/**
 * Rows scaled to unit length, y = x·r with r = (‖x‖² + ε)^(−1/2); dx = r·(dy − x·r²·⟨x, dy⟩). A JS loop: the
 * row-broadcast multiply of plain tfjs ops falls back to a slow generic kernel.
 */
function unitRows(x: tf.Tensor2D): tf.Tensor2D {
  const [R, D] = x.shape
  const inv = (a: Float32Array) => {
    const r = new Float64Array(R)
    for (let i = 0; i < R; i++) {
      let ss = NORM_EPS
      for (let d = 0; d < D; d++) ss += a[i * D + d] * a[i * D + d]
      r[i] = 1 / Math.sqrt(ss)
    }
    return r
  }
  const op = customOp(([t], save) => {
    const a = t.dataSync() as Float32Array
    const r = inv(a)
    const y = new Float32Array(R * D)
    for (let i = 0; i < R; i++) for (let d = 0; d < D; d++) y[i * D + d] = a[i * D + d] * r[i]
    save([t])
    return {
      value: tf.tensor2d(y, [R, D]),
      gradFunc: (dy, [xs]) => {
        const xa = xs.dataSync() as Float32Array
        const g = dy.dataSync() as Float32Array
        const r2 = inv(xa)
        const dx = new Float32Array(R * D)
        for (let i = 0; i < R; i++) {
          let dot = 0
          for (let d = 0; d < D; d++) dot += xa[i * D + d] * g[i * D + d]
          const c = r2[i] * r2[i] * dot
          for (let d = 0; d < D; d++) dx[i * D + d] = r2[i] * (g[i * D + d] - xa[i * D + d] * c)
        }
        return [tf.tensor2d(dx, [R, D])]
      },
    }
  })
  return op(x) as tf.Tensor2D
}

/** `unitRows` in plain tfjs ops. */
function unitRowsReference(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), NORM_EPS))) as tf.Tensor2D
}

/**
 * Gather indices of a plan, rows of the flattened [BNH·T, HS] inputs: qIdx [G·Tp] (sorted queries), kIdx [G·nc·2m]
 * (each chunk's window: previous chunk then own chunk); unsort [G·T] (row g·Tp + slot of each position, into the
 * flattened sorted outputs). Padding slots point at row 0 (and are masked).
 */
function lshIndices(p: LshPlan): {qIdx: Int32Array; kIdx: Int32Array; unsort: Int32Array} {
  const {B, NH, T, H, m, nc, Tp, sorted, slot} = p
  const G = B * NH * H
  const W = 2 * m
  const qIdx = new Int32Array(G * Tp)
  const kIdx = new Int32Array(G * nc * W)
  const unsort = new Int32Array(G * T)
  for (let g = 0; g < G; g++) {
    const row0 = Math.floor(g / H) * T
    for (let t = 0; t < T; t++) unsort[g * T + t] = g * Tp + slot[g * T + t]
    for (let s = 0; s < Tp; s++) qIdx[g * Tp + s] = row0 + Math.max(0, sorted[g * Tp + s])
    for (let c = 0; c < nc; c++) {
      for (let j = 0; j < W; j++) {
        const s = (c - 1) * m + j
        kIdx[(g * nc + c) * W + j] = row0 + (s >= 0 ? Math.max(0, sorted[g * Tp + s]) : 0)
      }
    }
  }
  return {qIdx, kIdx, unsort}
}

/** The whole additive mask [G·nc, m, 2m] of a plan, written out independently of `lshCore` (reference only). */
function denseBias(p: LshPlan): Float32Array {
  const {B, NH, T, H, m, nc, Tp, sorted, slot} = p
  const G = B * NH * H
  const W = 2 * m
  const bias = new Float32Array(G * nc * m * W)
  for (let g = 0; g < G; g++) {
    const g0 = Math.floor(g / H) * H // first round of this (b, h)
    for (let c = 0; c < nc; c++) {
      for (let i = 0; i < m; i++) {
        const pq = sorted[g * Tp + c * m + i]
        if (pq < 0) continue // padding query: its output is never read; leave its row unmasked (finite softmax)
        for (let j = 0; j < W; j++) {
          const s = (c - 1) * m + j
          const pk = s >= 0 ? sorted[g * Tp + s] : -1
          let b = 0
          if (pk < 0 || pk > pq) {
            b = MASKED
          } else if (pk === pq) {
            b = SELF
          } else {
            // N_ij: rounds in which key pk falls in query pq's own or previous chunk.
            let n = 0
            for (let r = 0; r < H; r++) {
              const cq = Math.floor(slot[(g0 + r) * T + pq] / m)
              const ck = Math.floor(slot[(g0 + r) * T + pk] / m)
              if (ck === cq || ck === cq - 1) n++
            }
            b = -Math.log(n)
          }
          bias[((g * nc + c) * m + i) * W + j] = b
        }
      }
    }
  }
  return bias
}

/**
 * x unchanged, with `unused` tensors as extra inputs whose gradient is zero. Under shared-QK attention the key
 * projections stay in the schema but are not read; this keeps them connected so gradients over every schema
 * tensor (src/train/step.ts) exist (they are zero).
 */
export function withZeroGrads<T extends tf.Tensor>(x: T, unused: tf.Tensor[]): T {
  if (unused.length === 0) return x
  const f = (...args: unknown[]) => {
    const inputs = args.slice(0, -1) as tf.Tensor[]
    return {
      value: tf.clone(inputs[0]),
      gradFunc: (dy: tf.Tensor) => [dy, ...inputs.slice(1).map((t) => tf.zeros(t.shape))],
    }
  }
  const op = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...ts: tf.Tensor[]) => T
  return op(x, ...unused)
}
