/**
 * Chunked computation with recomputation in the backward pass (Reformer §3 "Chunking"; research notes
 * /work/shared/research/mup_came_reformer.md §4.2): a row-wise function (the FFN, the vocabulary projection with
 * its cross-entropy) is applied to row chunks of its input, and a custom gradient recomputes each chunk's forward
 * in the backward pass (activation checkpointing per chunk, like trax's `Chunk` = `Scan(remat=True)`). Only one
 * chunk's intermediates (e.g. [N/c, F] of the FFN, [N/c, V] of the logits) exist at a time, forward or backward;
 * what is stored between the passes is the input [N,C]. Costs one extra forward of the function.
 *
 * Also `vjp`, a vector–Jacobian product that may be called inside a `tf.customGrad` gradient function (the
 * reversible stack in src/model/reversible.ts uses it too).
 *
 * Shape letters: N rows (B·T), C width, c chunks.
 */
import * as tf from '@tensorflow/tfjs-core'
import './gradients.js'

/** A function of a row block x[n,C] and parameters; row-wise: output row i depends only on input row i. */
export type RowFn = (x: tf.Tensor2D, params: tf.Tensor[]) => tf.Tensor2D
/** A chunk's share of a scalar (e.g. its rows' summed loss / N), from its rows x[r0:r1] and the parameters. */
export type ChunkLossFn = (x: tf.Tensor2D, params: tf.Tensor[], r0: number, r1: number) => tf.Scalar

type Save = (tensors: tf.Tensor[]) => void
type Grad = {value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[]}

/** tf.customGrad over a list of inputs (customGrad passes `save` last). */
export function customOp(fn: (inputs: tf.Tensor[], save: Save) => Grad): (...inputs: tf.Tensor[]) => tf.Tensor {
  const f = (...args: unknown[]) => {
    const save = args.pop() as Save
    return fn(args as tf.Tensor[], save)
  }
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor
}

/**
 * fn(...xs) and the gradients of ⟨fn(...xs), dy⟩ with respect to each x. Safe inside a customGrad gradient
 * function: tfjs keeps one global tape, which a nested gradient computation would replace and clear; this restores
 * the outer one. The nested tape (and the activations it saved) is freed when this returns.
 */
export function vjp(fn: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): {value: tf.Tensor; grads: tf.Tensor[]} {
  const state = tf.engine().state
  const outer = state.activeTape
  try {
    return tf.valueAndGrads(fn)(xs, dy)
  } finally {
    state.activeTape = outer
  }
}

/** Row boundaries [0, …, N] of `chunks` nearly equal parts (at most N parts). */
export function chunkBounds(N: number, chunks: number): number[] {
  const c = Math.max(1, Math.min(N, Math.floor(chunks)))
  return Array.from({length: c + 1}, (_, i) => Math.round((i * N) / c))
}

function rows(x: tf.Tensor2D, r0: number, r1: number): tf.Tensor2D {
  return tf.slice(x, [r0, 0], [r1 - r0, x.shape[1]])
}

/** fn on row chunks of x, forward only (no gradient bookkeeping): each chunk's intermediates freed before the next. */
export function rowChunksForward(fn: RowFn, x: tf.Tensor2D, params: tf.Tensor[], chunks: number): tf.Tensor2D {
  const b = chunkBounds(x.shape[0], chunks)
  if (b.length === 2) return fn(x, params)
  const parts = b.slice(1).map((r1, i) => tf.tidy(() => fn(rows(x, b[i], r1), params)))
  const out = tf.concat(parts, 0) as tf.Tensor2D
  for (const t of parts) t.dispose()
  return out
}

/** fn on row chunks of x with plain autodiff through the slices (the reference of `chunkedRows`: same value). */
export function rowChunksAutodiff(fn: RowFn, x: tf.Tensor2D, params: tf.Tensor[], chunks: number): tf.Tensor2D {
  const b = chunkBounds(x.shape[0], chunks)
  if (b.length === 2) return fn(x, params)
  return tf.concat(b.slice(1).map((r1, i) => fn(rows(x, b[i], r1), params)), 0) as tf.Tensor2D
}

/**
 * Value, input gradient and parameter gradients of a row-wise fn at x for the output cotangent dy[N,D], one chunk
 * at a time: dx = concat of the chunks' dx, dparams = Σ over chunks.
 */
export function rowChunksVjp(fn: RowFn, x: tf.Tensor2D, params: tf.Tensor[], dy: tf.Tensor2D, chunks: number):
  {value: tf.Tensor2D; dx: tf.Tensor2D; dparams: tf.Tensor[]} {
  const b = chunkBounds(x.shape[0], chunks)
  const values: tf.Tensor[] = []
  const dxs: tf.Tensor[] = []
  let dparams: tf.Tensor[] | null = null
  for (let i = 0; i + 1 < b.length; i++) {
    const whole = b.length === 2
    const r = tf.tidy(() => {
      const xc = whole ? x : rows(x, b[i], b[i + 1])
      const dyc = whole ? dy : rows(dy, b[i], b[i + 1])
      const {value, grads} = vjp((xi, ...ps) => fn(xi as tf.Tensor2D, ps), [xc, ...params], dyc)
      const acc = dparams ? grads.slice(1).map((g, k) => tf.add(dparams![k], g)) : grads.slice(1)
      return {value, dx: grads[0], acc}
    })
    if (dparams) for (const t of dparams) t.dispose()
    dparams = r.acc
    values.push(r.value)
    dxs.push(r.dx)
  }
  if (values.length === 1) return {value: values[0] as tf.Tensor2D, dx: dxs[0] as tf.Tensor2D, dparams: dparams!}
  const value = tf.concat(values, 0) as tf.Tensor2D
  const dx = tf.concat(dxs, 0) as tf.Tensor2D
  for (const t of [...values, ...dxs]) t.dispose()
  return {value, dx, dparams: dparams!}
}

/**
 * A row-wise fn applied in `chunks` row chunks, with a gradient that recomputes each chunk (see the header).
 * Same value as fn(x) up to float rounding of the chunk boundaries (none for row-wise ops).
 */
export function chunkedRows(fn: RowFn, x: tf.Tensor2D, params: tf.Tensor[], chunks: number): tf.Tensor2D {
  if (chunkBounds(x.shape[0], chunks).length === 2) return fn(x, params)
  const op = customOp(([xi, ...ps], save) => {
    save([xi, ...ps])
    return {
      value: rowChunksForward(fn, xi as tf.Tensor2D, ps, chunks),
      gradFunc: (dy, [xs, ...pss]) => {
        const r = rowChunksVjp(fn, xs as tf.Tensor2D, pss, dy as tf.Tensor2D, chunks)
        r.value.dispose()
        return [r.dx, ...r.dparams]
      },
    }
  })
  return op(x, ...params) as tf.Tensor2D
}

/**
 * Σ over row chunks of lossFn(x[r0:r1], params, r0, r1), with a gradient that recomputes each chunk: the chunked
 * output loss (lossFn = the chunk's logits and cross-entropy, weighted by its share of the rows), so the full
 * [N,V] logits never exist, forward or backward.
 */
export function chunkedLoss(lossFn: ChunkLossFn, x: tf.Tensor2D, params: tf.Tensor[], chunks: number): tf.Scalar {
  const b = chunkBounds(x.shape[0], chunks)
  if (b.length === 2) return lossFn(x, params, 0, x.shape[0])
  const op = customOp(([xi, ...ps], save) => {
    save([xi, ...ps])
    const parts = b.slice(1).map((r1, i) => tf.tidy(() => lossFn(rows(xi as tf.Tensor2D, b[i], r1), ps, b[i], r1)))
    const value = tf.addN(parts)
    for (const t of parts) t.dispose()
    return {
      value,
      gradFunc: (dy, [xs, ...pss]) => {
        const dxs: tf.Tensor[] = []
        let dparams: tf.Tensor[] | null = null
        for (let i = 0; i + 1 < b.length; i++) {
          const r = tf.tidy(() => {
            const xc = rows(xs as tf.Tensor2D, b[i], b[i + 1])
            const {grads} = vjp((xi2, ...ps2) => lossFn(xi2 as tf.Tensor2D, ps2, b[i], b[i + 1]), [xc, ...pss], dy)
            const acc = dparams ? grads.slice(1).map((g, k) => tf.add(dparams![k], g)) : grads.slice(1)
            return {dx: grads[0], acc}
          })
          if (dparams) for (const t of dparams) t.dispose()
          dparams = r.acc
          dxs.push(r.dx)
        }
        const dx = tf.concat(dxs, 0)
        for (const t of dxs) t.dispose()
        return [dx, ...dparams!]
      },
    }
  })
  return op(x, ...params) as tf.Scalar
}
