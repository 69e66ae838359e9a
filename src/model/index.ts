/**
 * The architecture families behind one interface. Everything outside src/model/ goes through here: configs are
 * validated by their family, and the schema says what tensors a model has.
 */
import type * as tf from '@tensorflow/tfjs-core'

import '../compute/gradients.js'

import {ConfigError} from '../errors.js'
import {Fields} from '../validate.js'
import {type Gpt2Config, type Params, gpt2Config, gpt2Forward, gpt2Loss, gpt2Schema} from './gpt2.js'
import type {Schema} from './schema.js'

export type ModelConfig = Gpt2Config
export type {Params} from './gpt2.js'
export const FAMILIES = ['gpt2'] as const

/** Validates a model config of any family (the `family` key picks it; default gpt2). */
export function modelConfig(raw: unknown, source?: string, prefix = 'model'): ModelConfig {
  const f = Fields.of(raw, prefix, source)
  const family = f.obj.family ?? 'gpt2'
  switch (family) {
    case 'gpt2':
      return gpt2Config(raw, source, prefix)
    default:
      throw new ConfigError(f.key('family'), family, `one of ${FAMILIES.join(', ')}`, source)
  }
}

export function schemaOf(c: ModelConfig): Schema {
  return gpt2Schema(c)
}

/** Logits [B·T, V] for ids [B,T]. Call inside tf.tidy. */
export function forward(c: ModelConfig, p: Params, ids: Int32Array, B: number, T: number): tf.Tensor2D {
  return gpt2Forward(c, p, ids, B, T)
}

/** Mean next-token loss of a batch. Call inside tf.tidy. */
export function lossOf(c: ModelConfig, p: Params, inputs: Int32Array, targets: Int32Array, B: number, T: number): tf.Scalar {
  return gpt2Loss(c, p, inputs, targets, B, T)
}

/** The longest context the model accepts. */
export function contextLength(c: ModelConfig): number {
  return c.n_positions
}
