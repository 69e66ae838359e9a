/**
 * A reversible residual stack (RevNet, Gomez et al. 2017, as used by Reformer, Kitaev et al. 2020 §3, eq. 9;
 * research notes /work/shared/research/mup_came_reformer.md §4.1). Each block maps two residual streams
 *
 *   y1 = x1 + F(x2)        y2 = x2 + G(y1)          (forward)
 *   x2 = y2 − G(y1)        x1 = y1 − F(x2)          (reconstruction)
 *
 * with F = attention (its LayerNorm inside) and G = the FFN (its LayerNorm inside). The stack's input is one
 * stream duplicated (x1 = x2 = x, as lucidrains' `torch.cat([x, x])` and trax's `Dup`) and its output is the
 * average (y1 + y2)/2 (lucidrains; trax concatenates to 2·C instead, which would change the final norm and the
 * head): the parameter set stays exactly the standard model's.
 *
 * `recompute` mode is one tf.customGrad over the whole stack. Its forward runs each block in a tf.tidy and keeps
 * only the last (y1, y2); its backward walks the blocks in reverse, recomputing each block's inputs from its
 * outputs and taking the vector–Jacobian products of G and F (src/compute/chunked.ts `vjp`) for the streams and
 * the block's parameters, so only one block's activations exist at a time: activation memory does not grow with
 * depth (parameters and their gradients still do). `autodiff` mode is the same forward in plain tfjs ops, for
 * tests (the reference of the custom gradient) and for probes.
 *
 * The reconstruction is exact only in exact arithmetic: in float32 x1, x2 come back with rounding error of the
 * size of the streams' ulp, which the gradients inherit (see test/model/reformer.test.ts for the tolerance). Any
 * randomness inside F or G must replay identically (LSH attention reuses its forward's bucket plan; there is no
 * dropout here).
 *
 * Shapes: N rows (B·T), C width, L blocks.
 */
import * as tf from '@tensorflow/tfjs-core'

import '../compute/gradients.js'
import {customOp, rowChunksAutodiff, rowChunksForward, rowChunksVjp, vjp} from '../compute/chunked.js'

/** A residual branch x[N,C] → [N,C] and the parameter tensors it reads (all of them, in its own order). */
export interface Branch {
  /** Reads no tensor but its arguments: the backward calls it again after the forward's intermediates are gone. */
  fn: (x: tf.Tensor2D, params: tf.Tensor[]) => tf.Tensor2D
  params: tf.Tensor[]
  /** > 1 only for a row-wise branch (a RowFn, the FFN): computed, and differentiated, in this many row chunks. */
  chunks?: number
}

export interface RevBlock {
  /** F: y1 = x1 + F(x2). */
  f: Branch
  /** G: y2 = x2 + G(y1). */
  g: Branch
}

export type RevMode = 'recompute' | 'autodiff'

/**
 * The stack applied to x[N,C] → (y1 + y2)/2 [N,C]. `onBlock(l, y1, y2)` (autodiff mode only) sees each block's
 * output streams.
 */
export function reversibleStack(x: tf.Tensor2D, blocks: RevBlock[], mode: RevMode = 'recompute',
  onBlock?: (l: number, y1: tf.Tensor2D, y2: tf.Tensor2D) => void): tf.Tensor2D {
  if (blocks.length === 0) return x
  if (mode === 'autodiff') {
    let x1 = x
    let x2 = x
    blocks.forEach((b, l) => {
      const y1 = tf.add(x1, rowChunksAutodiff(b.f.fn, x2, b.f.params, b.f.chunks ?? 1)) as tf.Tensor2D
      const y2 = tf.add(x2, rowChunksAutodiff(b.g.fn, y1, b.g.params, b.g.chunks ?? 1)) as tf.Tensor2D
      onBlock?.(l, y1, y2)
      x1 = y1
      x2 = y2
    })
    return tf.mul(tf.add(x1, x2), 0.5) as tf.Tensor2D
  }
  if (onBlock) throw new Error('reversibleStack: onBlock needs autodiff mode')
  // Inputs of the custom op: x, then each block's F parameters and G parameters.
  const counts = blocks.map((b) => [b.f.params.length, b.g.params.length] as const)
  const split = (ps: tf.Tensor[]) => {
    let k = 0
    return counts.map(([nf, ng]) => {
      const f = ps.slice(k, k + nf)
      const g = ps.slice(k + nf, k + nf + ng)
      k += nf + ng
      return {f, g}
    })
  }
  const op = customOp(([x0, ...flat], save) => {
    const ps = split(flat)
    let x1 = x0 as tf.Tensor2D
    let x2 = x0 as tf.Tensor2D
    blocks.forEach((b, l) => {
      const [y1, y2] = tf.tidy(() => {
        const y1 = tf.add(x1, rowChunksForward(b.f.fn, x2, ps[l].f, b.f.chunks ?? 1)) as tf.Tensor2D
        const y2 = tf.add(x2, rowChunksForward(b.g.fn, y1, ps[l].g, b.g.chunks ?? 1)) as tf.Tensor2D
        return [y1, y2]
      })
      if (l > 0) {
        x1.dispose()
        x2.dispose()
      }
      x1 = y1
      x2 = y2
    })
    save([x1, x2, ...flat])
    return {
      value: tf.mul(tf.add(x1, x2), 0.5),
      gradFunc: (dy, [y1s, y2s, ...flatSaved]) => {
        const psv = split(flatSaved)
        const grads: tf.Tensor[][] = new Array(blocks.length)
        // d(out)/d(y1) = d(out)/d(y2) = 1/2.
        let y1 = y1s as tf.Tensor2D
        let y2 = y2s as tf.Tensor2D
        let dy1 = tf.mul(dy, 0.5) as tf.Tensor2D
        let dy2 = dy1
        for (let l = blocks.length - 1; l >= 0; l--) {
          const b = blocks[l]
          const r = tf.tidy(() => {
            // G half: y2 = x2 + G(y1). Its vjp gives G(y1) (→ x2) and ∂/∂y1, ∂/∂θ_G of ⟨G(y1), dy2⟩.
            const g = rowChunksVjp(b.g.fn, y1, psv[l].g, dy2, b.g.chunks ?? 1)
            const x2 = tf.sub(y2, g.value) as tf.Tensor2D
            const dx1 = tf.add(dy1, g.dx) as tf.Tensor2D // total gradient at y1 = gradient at x1
            // F half: y1 = x1 + F(x2), with cotangent dx1.
            const f = vjp((xi, ...pi) => b.f.fn(xi as tf.Tensor2D, pi), [x2, ...psv[l].f], dx1)
            const x1 = tf.sub(y1, f.value) as tf.Tensor2D
            const dx2 = tf.add(dy2, f.grads[0]) as tf.Tensor2D
            return {x1, x2, dx1, dx2, dtheta: [...f.grads.slice(1), ...g.dparams]}
          })
          // Free the previous block's streams and cotangents (never the saved outputs or the incoming dy).
          if (y1 !== y1s) y1.dispose()
          if (y2 !== y2s) y2.dispose()
          dy1.dispose()
          if (dy2 !== dy1) dy2.dispose()
          y1 = r.x1
          y2 = r.x2
          dy1 = r.dx1
          dy2 = r.dx2
          grads[l] = r.dtheta
        }
        // x1 = x2 = x: the input's gradient is the sum of the streams'.
        const dx = tf.add(dy1, dy2)
        return [dx, ...grads.flat()]
      },
    }
  })
  return op(x, ...blocks.flatMap((b) => [...b.f.params, ...b.g.params])) as tf.Tensor2D
}
