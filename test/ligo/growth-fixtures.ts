/** Sources and logits for the function-preservation tests of the growth methods (msg, hypercloning). */
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'

import {type Checkpoint, loadCheckpoint, saveCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {Rng} from '../../src/data/rng.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {tmpDir} from '../helpers.js'

/**
 * A source checkpoint whose every weight is a seeded N(0, 0.3²) draw and whose norm gains are 1 ± 0.3, so the
 * logits are far from uniform and a wrong growth shows (an untrained init has logits of ~1e-3).
 */
export function randomSource(raw: Record<string, unknown>, seed: number): Checkpoint {
  const model = modelConfig({vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2, ...raw})
  const r = new Rng(seed)
  const weights = new Map(schemaOf(model).map((p) => {
    const a = new Float32Array(p.shape.reduce((x, y) => x * y, 1))
    for (let i = 0; i < a.length; i++) a[i] = p.role === 'gain' ? 1 + 0.3 * (r.next() * 2 - 1) : 0.3 * r.normal()
    return [p.name, a]
  }))
  const dir = path.join(tmpDir('ligo-src-'), 'src')
  saveCheckpoint(dir, {meta: {format: 'ligo-checkpoint', version: 1, model, tokenizer: {kind: 'byte', vocabSize: 256}, provenance: {}}, weights})
  return loadCheckpoint(dir)
}

export const IDS = Int32Array.from({length: 32}, (_, i) => (i * 29 + 5) % 64)

/** Logits [32, V] of IDS as 2 × 16 tokens. */
export function logits(model: ModelConfig, weights: Map<string, Float32Array>): number[][] {
  return tf.tidy(() => forward(model, new Map(schemaOf(model).map((p) => [p.name, tf.tensor(weights.get(p.name)!, p.shape)])), IDS, 2, 16).arraySync())
}
