import {describe, expect, it} from 'vitest'

import {modelConfig, schemaOf} from '../../src/model/index.js'
import {InitStream, initWeights} from '../../src/model/init.js'
import {initStds} from '../../src/mup/index.js'

describe('InitStream', () => {
  it('gives any subset of tensors, taken in schema order, exactly the values initWeights gives them', () => {
    // Odd-sized tensors leave a Box–Muller spare between tensors: skipping must carry it as drawing does.
    const c = modelConfig({vocab_size: 13, n_positions: 5, n_layer: 3, d_model: 6, n_head: 2, d_ffn: 7})
    const schema = schemaOf(c)
    const all = initWeights(schema, 9, initStds(c, schema))
    for (const keep of [(i: number) => i % 3 === 1, (i: number) => i > 20, (i: number) => i === schema.length - 1]) {
      const s = new InitStream(schema, 9, initStds(c, schema))
      schema.forEach((p, i) => {
        if (keep(i)) expect(s.take({name: p.name}), p.name).toEqual(all.get(p.name))
      })
    }
    const s = new InitStream(schema, 9)
    s.take(schema[5])
    expect(() => s.take(schema[2])).toThrow(/schema order/)
  })
})
