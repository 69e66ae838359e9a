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
 * size of the streams' ulp, and it compounds down the stack: with residual streams grown large (trained models),
 * 48 blocks gave relative gradient errors up to 8e-3, worst in block 0 (test/model/reversible-drift.test.ts).
 * The forward step's rounding loses the bits for good (x2 + G(y1) is rounded before it is stored), so recomputing
 * in float64 cannot restore them. Instead the forward keeps anchors: the two streams at the input of every
 * `anchorEvery`-th block (block 0's is the stack's input, kept anyway). The backward restarts its reconstruction
 * from each anchor, so errors compound over at most `anchorEvery` blocks, and measures the drift there (the
 * reconstructed streams against the stored ones; `onDrift`). Cost: 2·[N,C] per anchor, ⌈L/anchorEvery⌉ − 1 of
 * them (0 = no anchors: activation memory flat in depth, drift unchecked). Any randomness inside F or G must
 * replay identically (LSH attention reuses its forward's bucket plan; there is no dropout here).
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

/** The default anchor spacing (model.rev_anchor_every): reconstruction errors compound over ≤ 8 blocks. */
export const REV_ANCHOR_EVERY = 8

export interface RevOptions {
  /** Keep both streams at the input of every n-th block for the backward to restart from (0 = none). */
  anchorEvery?: number
  /**
   * Called in the backward at each anchor with the relative reconstruction drift there, max|x̂ − x| / max|x| over
   * both streams (x̂ reconstructed from the anchor above, or from the stored outputs).
   */
  onDrift?: (block: number, relative: number) => void
}

/**
 * The stack applied to x[N,C] → (y1 + y2)/2 [N,C]. `onBlock(l, y1, y2)` (autodiff mode only) sees each block's
 * output streams.
 */
export function reversibleStack(x: tf.Tensor2D, blocks: RevBlock[], mode: RevMode = 'recompute',
  onBlock?: (l: number, y1: tf.Tensor2D, y2: tf.Tensor2D) => void, opts: RevOptions = {}): tf.Tensor2D {
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
  const every = opts.anchorEvery ?? REV_ANCHOR_EVERY
  // Blocks whose inputs are anchored: 0 (the stack's input) and every `every`-th after it.
  const anchored = blocks.map((_, l) => every > 0 && l % every === 0)
  const nAnchors = anchored.filter((a, l) => a && l > 0).length
  const op = customOp(([x0, ...flat], save) => {
    const ps = split(flat)
    let x1 = x0 as tf.Tensor2D
    let x2 = x0 as tf.Tensor2D
    const anchors: tf.Tensor[] = []
    blocks.forEach((b, l) => {
      if (l > 0 && anchored[l]) anchors.push(x1, x2) // kept, not disposed: saved for the backward
      const [y1, y2] = tf.tidy(() => {
        const y1 = tf.add(x1, rowChunksForward(b.f.fn, x2, ps[l].f, b.f.chunks ?? 1)) as tf.Tensor2D
        const y2 = tf.add(x2, rowChunksForward(b.g.fn, y1, ps[l].g, b.g.chunks ?? 1)) as tf.Tensor2D
        return [y1, y2]
      })
      if (l > 0 && !anchored[l]) {
        x1.dispose()
        x2.dispose()
      }
      x1 = y1
      x2 = y2
    })
    save([x1, x2, x0, ...anchors, ...flat])
    return {
      value: tf.mul(tf.add(x1, x2), 0.5),
      gradFunc: (dy, [y1s, y2s, x0s, ...rest]) => {
        // The anchored inputs of each block: both streams; block 0's are the stack's input.
        const stored = new Map<number, [tf.Tensor2D, tf.Tensor2D]>()
        if (anchored[0]) stored.set(0, [x0s as tf.Tensor2D, x0s as tf.Tensor2D])
        let k = 0
        anchored.forEach((a, l) => {
          if (a && l > 0) stored.set(l, [rest[k++] as tf.Tensor2D, rest[k++] as tf.Tensor2D])
        })
        const flatSaved = rest.slice(2 * nAnchors)
        const psv = split(flatSaved)
        const grads: tf.Tensor[][] = new Array(blocks.length)
        // d(out)/d(y1) = d(out)/d(y2) = 1/2.
        let y1 = y1s as tf.Tensor2D
        let y2 = y2s as tf.Tensor2D
        let dy1 = tf.mul(dy, 0.5) as tf.Tensor2D
        let dy2 = dy1
        for (let l = blocks.length - 1; l >= 0; l--) {
          const b = blocks[l]
          const anchor = stored.get(l)
          const r = tf.tidy(() => {
            // G half: y2 = x2 + G(y1). Its vjp gives G(y1) (→ x2) and ∂/∂y1, ∂/∂θ_G of ⟨G(y1), dy2⟩.
            const g = rowChunksVjp(b.g.fn, y1, psv[l].g, dy2, b.g.chunks ?? 1)
            const x2r = tf.sub(y2, g.value) as tf.Tensor2D
            const x2 = anchor ? anchor[1] : x2r // an anchor replaces the reconstruction (and bounds its error)
            const dx1 = tf.add(dy1, g.dx) as tf.Tensor2D // total gradient at y1 = gradient at x1
            // F half: y1 = x1 + F(x2), with cotangent dx1.
            const f = vjp((xi, ...pi) => b.f.fn(xi as tf.Tensor2D, pi), [x2, ...psv[l].f], dx1)
            const x1r = tf.sub(y1, f.value) as tf.Tensor2D
            if (anchor && opts.onDrift) {
              const err = tf.maximum(tf.max(tf.abs(tf.sub(x1r, anchor[0]))), tf.max(tf.abs(tf.sub(x2r, anchor[1]))))
              const ref = tf.maximum(tf.max(tf.abs(anchor[0])), tf.max(tf.abs(anchor[1])))
              opts.onDrift(l, err.dataSync()[0] / Math.max(ref.dataSync()[0], Number.MIN_VALUE))
            }
            // Copies of an anchor, so that the walk below can free the streams it moves past.
            const x1 = anchor ? tf.clone(anchor[0]) : x1r
            const dx2 = tf.add(dy2, f.grads[0]) as tf.Tensor2D
            return {x1, x2: anchor ? tf.clone(anchor[1]) : x2, dx1, dx2, dtheta: [...f.grads.slice(1), ...g.dparams]}
          })
          // Free the previous block's streams and cotangents (never the saved outputs, anchors or the incoming dy).
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
