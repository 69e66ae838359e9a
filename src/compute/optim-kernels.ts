/**
 * Optimizer kernels: AdamW, in place, on flat Float32Arrays. The plain-TS loop here is the reference and the
 * fallback; when the native addon is loaded `adamwStep` calls its `adamwUpdate` (same math, 2 threads, AVX).
 * (The optimizer imports `adamwStep` from here.)
 *
 * CAME and Adafactor (src/optim/came.ts, adafactor.ts) keep their TS loops as the reference and the fallback;
 * when the addon is loaded they hand each tensor to its `cameUpdate*` / `adafactorUpdate*` kernels
 * (native/optim_factored.cc: the same double-precision operations in the same order, threaded over row blocks,
 * vectorised). `factoredOptimAddon()` says which path they take; `setNativeFactoredOptimizers(false)` forces the TS
 * loops (parity tests, benchmarks).
 *
 * Decoupled weight decay (Loshchilov & Hutter, as torch.optim.AdamW):
 *   p ← p − lr·wd·p
 *   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^step)) / (√(v / (1−β2^step)) + eps)
 */
import {type NativeAddon, nativeAddon} from './native.js'

export interface AdamWOptions {
  lr: number
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  /** 1-based step count, for bias correction. */
  step: number
}

function checkAdamWLengths(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array): number {
  const n = param.length
  if (grad.length !== n || m.length !== n || v.length !== n)
    throw new RangeError(`adamwStep: length mismatch param ${n}, grad ${grad.length}, m ${m.length}, v ${v.length}`)
  return n
}

/** The plain reference loop (always available). */
export function adamwStepReference(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: AdamWOptions,
): void {
  const n = checkAdamWLengths(param, grad, m, v)
  const bc1 = 1 - Math.pow(o.beta1, o.step)
  const bc2 = 1 - Math.pow(o.beta2, o.step)
  const decay = 1 - o.lr * o.weightDecay
  const b1 = o.beta1
  const b2 = o.beta2
  for (let i = 0; i < n; i++) {
    const g = grad[i]
    const mi = b1 * m[i] + (1 - b1) * g
    const vi = b2 * v[i] + (1 - b2) * g * g
    m[i] = mi
    v[i] = vi
    param[i] = param[i] * decay - (o.lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + o.eps)
  }
}

/** One AdamW step in place on param, m and v. Uses the native kernel when loaded, else the reference loop. */
export function adamwStep(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: AdamWOptions,
): void {
  const addon = param.length >= 4096 ? nativeAddon() : null
  if (addon !== null) {
    checkAdamWLengths(param, grad, m, v)
    addon.adamwUpdate(param, grad, m, v, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.step)
    return
  }
  adamwStepReference(param, grad, m, v, o)
}

let factoredNative = true

/** Lets CAME and Adafactor use the native kernels when the addon is loaded (the default), or forces their TS loops. */
export function setNativeFactoredOptimizers(enabled: boolean): void {
  factoredNative = enabled
}

/** The addon when CAME and Adafactor should use its kernels, else null (their TS loops run). */
export function factoredOptimAddon(): NativeAddon | null {
  return factoredNative ? nativeAddon() : null
}
