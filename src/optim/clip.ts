/** Global-norm gradient clipping over flat gradient arrays, in place. */
import {nativeAddon} from '../compute/native.js'

/**
 * √Σ g² over all arrays, in double; arrays of 4096+ go to the native addon when it is loaded (threaded, summed in
 * another order: equal to rounding).
 */
export function globalNorm(grads: Iterable<Float32Array>): number {
  let sum = 0
  for (const g of grads) {
    const addon = g.length >= 4096 ? nativeAddon() : null
    if (addon) {
      sum += addon.sumSquares(g)
      continue
    }
    let s = 0
    for (let i = 0; i < g.length; i++) s += g[i] * g[i]
    sum += s
  }
  return Math.sqrt(sum)
}

/** Scales all gradients so their global norm is at most maxNorm (if maxNorm > 0). Returns the norm before clipping. */
export function clipGlobalNorm(grads: Iterable<Float32Array>, maxNorm: number): number {
  const list = [...grads]
  const norm = globalNorm(list)
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6)
    for (const g of list) for (let i = 0; i < g.length; i++) g[i] *= scale
  }
  return norm
}
