/** Deterministic source checkpoints for the growth tests (no training: the bytes depend on nothing but the seed). */
import * as path from 'node:path'

import {CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint, saveCheckpoint, type Checkpoint} from '../../src/checkpoints/checkpoint.js'
import {Rng} from '../../src/data/rng.js'
import {modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {initStds} from '../../src/mup/index.js'
import {tmpDir} from '../helpers.js'

/**
 * Writes a source checkpoint of `model` with seeded weights whose norm gains and biases are moved off their init
 * (γ = 1, β = 0 would hide mistakes in how norms are grown), and loads it back.
 */
export function seededSource(model: Record<string, unknown>, seed = 11, dir = path.join(tmpDir(), 'source')): Checkpoint {
  const config = modelConfig(model)
  const schema = schemaOf(config)
  const weights = initWeights(schema, seed, initStds(config, schema))
  const r = new Rng(seed + 1000)
  for (const p of schema) {
    const w = weights.get(p.name)!
    if (p.role === 'gain') w.forEach((v, i) => (w[i] = v + 0.5 * (r.next() - 0.5)))
    else if (p.role === 'bias') w.forEach((v, i) => (w[i] = v + 0.1 * (r.next() - 0.5)))
    // Embeddings of std 0.02 give a residual stream small against LayerNorm's ε: scale them up so that ε is not
    // what makes a check pass.
    else if (p.role === 'embedding') w.forEach((v, i) => (w[i] = v * 20))
  }
  saveCheckpoint(dir, {meta: {format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: config, tokenizer: {kind: 'bytes'}, provenance: {}}, weights})
  return loadCheckpoint(dir)
}
