import {describe, expect, it} from 'vitest'

import {AdamW} from '../../src/optim/adamw.js'
import {clipGlobalNorm, globalNorm} from '../../src/optim/clip.js'
import {lrAt} from '../../src/optim/schedule.js'
import type {Schema} from '../../src/model/schema.js'
import {nativeAddon} from '../../src/compute/native.js'

const schema: Schema = [
  {name: 'w', layer: null, module: 'w', shape: [2], spaces: ['resid'], role: 'hidden', init: {kind: 'zeros'}},
  {name: 'b', layer: null, module: 'b', shape: [1], spaces: ['resid'], role: 'bias', init: {kind: 'zeros'}},
]

describe('AdamW', () => {
  it('matches hand-computed steps, with decoupled decay on matrices only and µP multipliers', () => {
    const cfg = {beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1}
    const opt = new AdamW(schema, cfg, new Map([['b', 0.5]]))
    const w = new Map([['w', Float32Array.from([1, -2])], ['b', Float32Array.from([3])]])
    const g = new Map([['w', Float32Array.from([0.5, 0.25])], ['b', Float32Array.from([-1])]])
    opt.update(w, g, 0.01)
    // step 1: m̂ = g, v̂ = g² → update = lr·sign(g) (up to eps); decay first: p·(1 − lr·wd)
    expect(w.get('w')![0]).toBeCloseTo(1 * (1 - 0.001) - 0.01, 6)
    expect(w.get('w')![1]).toBeCloseTo(-2 * (1 - 0.001) - 0.01, 6)
    expect(w.get('b')![0]).toBeCloseTo(3 + 0.005, 6) // bias: no decay, LR × 0.5
    opt.update(w, g, 0.01) // same gradient again: m̂ = g, v̂ = g² still
    expect(w.get('w')![0]).toBeCloseTo((1 * 0.999 - 0.01) * 0.999 - 0.01, 6)
    // a third step with a different gradient, computed by hand
    const g3 = new Map([['w', Float32Array.from([-0.5, 0])], ['b', Float32Array.from([0])]])
    const before = w.get('w')![0]
    opt.update(w, g3, 0.01)
    const m = 0.9 * (0.9 * 0.1 * 0.5 + 0.1 * 0.5) + 0.1 * -0.5
    const v = 0.99 * (0.99 * 0.01 * 0.25 + 0.01 * 0.25) + 0.01 * 0.25
    const mhat = m / (1 - 0.9 ** 3)
    const vhat = v / (1 - 0.99 ** 3)
    expect(w.get('w')![0]).toBeCloseTo(before * 0.999 - (0.01 * mhat) / (Math.sqrt(vhat) + 1e-8), 6)
    expect(opt.step).toBe(3)
  })

  it('saves and restores its state', () => {
    const cfg = {beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0}
    const a = new AdamW(schema, cfg)
    const w = new Map([['w', Float32Array.from([1, 2])], ['b', Float32Array.from([0])]])
    a.update(w, new Map([['w', Float32Array.from([1, 1])], ['b', Float32Array.from([1])]]), 0.1)
    const b = new AdamW(schema, cfg)
    b.loadState(a.stateTensors(), a.step)
    const wa = new Map([...w].map(([k, x]) => [k, Float32Array.from(x)]))
    const wb = new Map([...w].map(([k, x]) => [k, Float32Array.from(x)]))
    const g = new Map([['w', Float32Array.from([0.3, -0.7])], ['b', Float32Array.from([2])]])
    a.update(wa, g, 0.1)
    b.update(wb, g, 0.1)
    expect(wb).toEqual(wa)
    expect(() => b.loadState(new Map(), 1)).toThrow(/missing 'm.w'/)
    // A state that fails on a later tensor loads nothing: the optimizer is left as it was.
    const before = b.stateTensors()
    const snapshot = new Map([...before].map(([k, x]) => [k, Float32Array.from(x)]))
    const bad = new Map([...a.stateTensors()].map(([k, x]) => [k, Float32Array.from(x, () => 7)]))
    bad.set('v.b', new Float32Array(5))
    expect(() => b.loadState(bad, 1)).toThrow(/'v.b' has 5 values, expected 1/)
    expect(b.stateTensors()).toEqual(snapshot)
    expect(a.stateBytes()).toBe((2 * 3 + 1) * 4)
  })
})

describe('schedule', () => {
  const s = {lr: 1, warmup: 10, steps: 110, schedule: 'cosine' as const, min_lr_ratio: 0.1}
  it('warms up linearly then decays by cosine to min_lr_ratio', () => {
    expect(lrAt(0, s)).toBeCloseTo(0.1)
    expect(lrAt(9, s)).toBeCloseTo(1)
    expect(lrAt(10, s)).toBeCloseTo(1)
    expect(lrAt(60, s)).toBeCloseTo(0.1 + 0.9 * 0.5)
    expect(lrAt(110, s)).toBeCloseTo(0.1)
    expect(lrAt(60, {...s, schedule: 'linear'})).toBeCloseTo(0.55)
    expect(lrAt(60, {...s, schedule: 'constant'})).toBe(1)
  })
})

describe('clipping', () => {
  it('scales gradients to the max global norm and reports the norm before', () => {
    const gs = [Float32Array.from([3, 0]), Float32Array.from([0, 4])]
    expect(globalNorm(gs)).toBe(5)
    expect(clipGlobalNorm(gs, 1)).toBe(5)
    expect(globalNorm(gs)).toBeCloseTo(1, 5)
    const small = [Float32Array.from([0.3, 0.4])]
    clipGlobalNorm(small, 1)
    expect(Array.from(small[0])).toEqual([Math.fround(0.3), Math.fround(0.4)])
  })

  it.skipIf(!nativeAddon())('native sum of squares agrees with the plain loop (sizes across block edges; NaN and Inf propagate)', () => {
    const addon = nativeAddon()!
    for (const n of [1, 7, 4096, 65535, 65536, 65537, 200003]) {
      const x = Float32Array.from({length: n}, (_, i) => Math.sin(i * 0.37 + 0.5) * (1 + (i % 13)))
      let ref = 0
      for (let i = 0; i < n; i++) ref += x[i] * x[i]
      expect(Math.abs(addon.sumSquares(x) - ref) / ref, `n = ${n}`).toBeLessThan(1e-12)
    }
    const bad = new Float32Array(70000).fill(1)
    bad[69999] = Number.NaN
    expect(addon.sumSquares(bad)).toBeNaN()
    bad[69999] = Number.POSITIVE_INFINITY
    expect(addon.sumSquares(bad)).toBe(Number.POSITIVE_INFINITY)
    // globalNorm takes the native path for large arrays and the loop for small ones: one norm either way.
    const big = Float32Array.from({length: 10000}, (_, i) => Math.cos(i))
    let ref = 0
    for (let i = 0; i < big.length; i++) ref += big[i] * big[i]
    expect(globalNorm([big, Float32Array.of(3)])).toBeCloseTo(Math.sqrt(ref + 9), 9)
  })
})
