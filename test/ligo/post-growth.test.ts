import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {grow} from '../../src/ligo/grow.js'
import {LEMON_DECAY_FRACTION, POST_GROWTH_WARMUP, postGrowthTrain} from '../../src/ligo/recipe.js'
import {lrAt} from '../../src/optim/schedule.js'
import {resolveRunConfig, trainConfig} from '../../src/train/config.js'
import {tmpDir, useCpu} from '../helpers.js'
import {randomSource} from './growth-fixtures.js'

beforeAll(async () => {
  await useCpu()
})

describe('post-growth schedule: LEMON (same peak, faster decay)', () => {
  const s = {lr: 1e-2, warmup: 100, steps: 1100, schedule: 'cosine' as const, min_lr_ratio: 0.1}

  it('decay_fraction f ends the decay after f of the post-warmup steps and holds the minimum; f = 1 is the plain schedule', () => {
    const f = {...s, decay_fraction: 0.5} // decay over steps 100 … 600
    for (const step of [0, 50, 99, 100]) expect(lrAt(step, f)).toBe(lrAt(step, s)) // same warmup and peak
    expect(lrAt(350, f)).toBeCloseTo(1e-3 + (1e-2 - 1e-3) / 2, 12) // halfway through the shorter cosine
    expect(lrAt(600, f)).toBeCloseTo(1e-3, 12)
    for (const step of [601, 900, 1099]) expect(lrAt(step, f)).toBe(lrAt(600, f))
    expect(lrAt(350, s)).toBeGreaterThan(lrAt(350, f))
    for (const step of [0, 100, 333, 1099]) expect(lrAt(step, {...s, decay_fraction: 1})).toBe(lrAt(step, s))
  })

  it('`ligo grow --post-growth-schedule lemon` carries it; rewarm (the default) leaves the headline schedule as it was', async () => {
    const train = trainConfig({steps: 1500, warmup: 100, lr: 8e-3, seq: 16})
    expect(postGrowthTrain(train)).toEqual({...train, warmup: POST_GROWTH_WARMUP})
    expect(postGrowthTrain(train, 'lemon')).toEqual({...train, warmup: POST_GROWTH_WARMUP, decay_fraction: LEMON_DECAY_FRACTION})
    const src = randomSource({}, 21)
    const withTrain = {...src, meta: {...src.meta, train}}
    const out = path.join(tmpDir(), 'lemon')
    await grow({source: withTrain, target: {width: 32}, method: 'net2net', out, postGrowth: 'lemon', evalBatches: 0})
    const g = loadCheckpoint(out)
    expect(g.meta.train).toMatchObject({warmup: 300, decay_fraction: 0.5, lr: 8e-3})
    // The carried settings validate as a run config (what `ligo train GROWN` resolves).
    expect(resolveRunConfig({model: {...g.meta.model}, train: g.meta.train as never}).train.decay_fraction).toBe(0.5)
    expect(() => trainConfig({decay_fraction: 0})).toThrow(/train\.decay_fraction/)
    expect(() => trainConfig({decay_fraction: 1.5})).toThrow(/train\.decay_fraction/)
  })
})
