import {beforeAll, describe, expect, it} from 'vitest'

import {modelConfig, schemaOf} from '../../src/model/index.js'
import {generate} from '../../src/model/generate.js'
import {initWeights} from '../../src/model/init.js'
import {useCpu} from '../helpers.js'

beforeAll(useCpu)

describe('generate', () => {
  // Token ids pinned from the implementation before the logits stopped leaving tf.tidy as an array (e8154ab),
  // which was checked to agree with this one on these three settings (greedy, top-k, full softmax).
  it('samples the same tokens as before', () => {
    const c = modelConfig({vocab_size: 300, n_positions: 8, n_layer: 2, d_model: 16, n_head: 2})
    const schema = schemaOf(c)
    const w = initWeights(schema, 3)
    const cases = [
      [{temperature: 0, topK: 0, seed: 0}, [1, 2, 3], [176, 176, 176, 176, 176, 176, 176, 176, 176, 176, 176, 176]],
      [{temperature: 0.9, topK: 20, seed: 4}, [5], [169, 30, 67, 199, 199, 1, 87, 240, 157, 119, 45, 277]],
      [{temperature: 1.5, topK: 0, seed: 7}, [9, 9], [126, 208, 145, 231, 32, 229, 39, 158, 145, 245, 78, 201]],
    ] as const
    for (const [o, prompt, want] of cases) expect(generate(c, schema, w, [...prompt], {tokens: 12, ...o})).toEqual(want)
  })
})
