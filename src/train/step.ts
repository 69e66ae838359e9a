/**
 * One forward/backward pass over flat weights. The weights stay plain Float32Arrays owned by the caller (the
 * optimizer updates them in place); each pass wraps them as tensors for its duration only.
 */
import * as tf from '@tensorflow/tfjs-core'

import {nativeAddon} from '../compute/native.js'
import {type ModelConfig, lossOf} from '../model/index.js'
import type {Schema} from '../model/schema.js'

export type Weights = Map<string, Float32Array>

export interface Batch {
  inputs: Int32Array
  targets: Int32Array
  batch: number
  seq: number
}

/**
 * Loss and gradients of one batch. Gradients are added into `accum` (allocated on first use) scaled by
 * `scale`, so micro-batches accumulate without extra copies. Returns the loss. With `frozen`, `schema` holds
 * only the tensors that train and `frozen` the rest of the model's.
 */
export function lossAndGrads(c: ModelConfig, schema: Schema, weights: Weights, b: Batch, accum: Weights, scale = 1, frozen: Schema = []): number {
  if (frozen.length === 0) return valueAndGradsInto(schema, weights, (p) => lossOf(c, p, b.inputs, b.targets, b.batch, b.seq), accum, scale)
  // `schema` lists the tensors to differentiate; the `frozen` ones enter as constants (no gradient is computed).
  return valueAndGradsInto(schema, weights, (p) => {
    const all = new Map(p)
    for (const s of frozen) all.set(s.name, tf.tensor(weights.get(s.name)!, s.shape, 'float32'))
    return lossOf(c, all, b.inputs, b.targets, b.batch, b.seq)
  }, accum, scale)
}

/**
 * The value of `loss` and its gradients with respect to the flat arrays `values` (named and shaped by `params`),
 * the gradients added into `accum` scaled by `scale` (allocated on first use). One place for the tape and the
 * gradient bookkeeping, shared by training (the model's weights) and LiGO operator learning (the operator's arrays).
 */
export function valueAndGradsInto(
  params: readonly {name: string; shape: number[]}[],
  values: Weights,
  loss: (tensors: Map<string, tf.Tensor>) => tf.Scalar,
  accum: Weights,
  scale = 1,
): number {
  const names = params.map((s) => s.name)
  const addon = nativeAddon()
  return tf.tidy(() => {
    const inputs = params.map((s) => tf.tensor(values.get(s.name)!, s.shape, 'float32'))
    const f = (...ts: tf.Tensor[]) => loss(new Map(names.map((n, i) => [n, ts[i]])))
    const {value, grads} = tf.valueAndGrads(f)(inputs)
    const taken = new Set<Float32Array>()
    for (const a of accum.values()) taken.add(a)
    for (let i = 0; i < names.length; i++) {
      const g = grads[i].dataSync() as Float32Array
      let acc = accum.get(names[i])
      if (!acc && scale === 1 && !taken.has(g) && g.length === inputs[i].size) {
        // First micro-batch: keep the gradient's own array (the tensor is disposed, the array stays ours)
        // instead of copying it. An array shared by two gradients (tfjs may return one tensor for two inputs)
        // is copied, because clipping scales gradients in place.
        accum.set(names[i], g)
        taken.add(g)
        continue
      }
      if (!acc) {
        acc = new Float32Array(g.length)
        accum.set(names[i], acc)
        taken.add(acc)
      }
      // The addon does the same arithmetic (per element in double, then rounded), threaded.
      if (addon) addon.accumulateScaled(acc, g, scale)
      else if (scale === 1) for (let j = 0; j < g.length; j++) acc[j] += g[j]
      else for (let j = 0; j < g.length; j++) acc[j] += scale * g[j]
    }
    return value.dataSync()[0]
  })
}

/** Mean loss of one batch, forward only. */
export function lossOnly(c: ModelConfig, schema: Schema, weights: Weights, b: Batch): number {
  return tf.tidy(() => {
    const p = new Map(schema.map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape, 'float32')]))
    return lossOf(c, p, b.inputs, b.targets, b.batch, b.seq).dataSync()[0]
  })
}
