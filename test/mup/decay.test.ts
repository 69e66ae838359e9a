import {describe, expect, it} from 'vitest'

import {modelConfig, schemaOf} from '../../src/model/index.js'
import {lrMultipliers, wdMultipliers} from '../../src/mup/index.js'
import {makeOptimizer} from '../../src/optim/index.js'

describe('µP weight decay', () => {
  it('keeps the per-step decay of hidden matrices independent of width for every optimizer', () => {
    const c = modelConfig({d_model: 64, n_head: 4, n_layer: 1, vocab_size: 16, n_positions: 8, param: 'mup', base_d_model: 16, base_n_head: 1, base_head_size: 16, base_d_ffn: 64})
    const schema = schemaOf(c)
    const name = 'h.0.mlp.c_fc.weight'
    for (const optimizer of ['adamw', 'came', 'adafactor'] as const) {
      const lr = lrMultipliers(c, schema, optimizer)
      expect(lr.get(name), optimizer).toBeCloseTo(1 / 4) // fan-in multiplier 64/16
      const settings = {weight_decay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8}
      const opt = makeOptimizer(optimizer, schema, settings, lr, wdMultipliers(c, schema, optimizer))
      const weights = new Map(schema.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(1)]))
      const grads = new Map(schema.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]))
      opt.update(weights, grads, 0.01) // zero gradients: only the decay moves the weights
      expect(weights.get(name)![0], optimizer).toBeCloseTo(1 - 0.01 * 0.1, 6)
      expect(weights.get('h.0.ln_1.weight')![0], optimizer).toBe(1) // gains never decay
    }
  })
})
