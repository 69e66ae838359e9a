import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {counterInt, counterUnit, hash64, mix64, Rng} from '../../src/data/rng.js'

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const c = new Rng(43)
    const xs = Array.from({length: 8}, () => a.uint32())
    expect(Array.from({length: 8}, () => b.uint32())).toEqual(xs)
    expect(Array.from({length: 8}, () => c.uint32())).not.toEqual(xs)
  })

  it('pins its first outputs (the stream must not change across versions or platforms)', () => {
    const r = new Rng(42)
    expect(Array.from({length: 4}, () => r.uint32())).toEqual(PINNED_U32_SEED_42)
  })

  it('draws next() in [0, 1), int(n) in [0, n), and roughly uniform', () => {
    const r = new Rng(7)
    const hist = new Array(10).fill(0)
    let bad = 0
    for (let i = 0; i < 100_000; i++) {
      const u = r.next()
      if (!(u >= 0 && u < 1)) bad++
      const k = r.int(10)
      if (!(Number.isInteger(k) && k >= 0 && k < 10)) bad++
      hist[k]++
    }
    expect(bad).toBe(0)
    for (const h of hist) expect(Math.abs(h - 10_000)).toBeLessThan(500)
    for (const n of [1, 3, 2 ** 32, 2 ** 32 + 5, 2 ** 40, 2 ** 53]) {
      for (let i = 0; i < 50; i++) {
        const k = r.int(n)
        if (!(Number.isInteger(k) && k >= 0 && k < n)) bad++
      }
    }
    expect(bad).toBe(0)
    expect(new Rng(3).int(2 ** 40)).toBeGreaterThan(2 ** 32) // uses the high bits (fails with prob. 2^-8)
    expect(() => r.int(0)).toThrow(InputError)
    expect(() => r.int(1.5)).toThrow(InputError)
  })

  it('normal() has mean ≈ 0 and variance ≈ 1', () => {
    const r = new Rng(1)
    let s = 0
    let s2 = 0
    const n = 200_000
    for (let i = 0; i < n; i++) {
      const z = r.normal()
      s += z
      s2 += z * z
    }
    expect(Number.isFinite(s2)).toBe(true)
    expect(Math.abs(s / n)).toBeLessThan(0.01)
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02)
  })

  it('round-trips its state mid-stream, including a pending Box–Muller spare', () => {
    for (const normals of [0, 1, 2, 3]) {
      const a = new Rng(99)
      for (let i = 0; i < 10; i++) a.next()
      for (let i = 0; i < normals; i++) a.normal()
      const b = Rng.fromState(a.state())
      expect(b.state()).toBe(a.state())
      const seqA = [a.normal(), a.next(), a.int(1000), a.normal(), a.normal()]
      const seqB = [b.normal(), b.next(), b.int(1000), b.normal(), b.normal()]
      expect(seqB).toEqual(seqA)
    }
  })

  it('skipNormals(k) leaves the stream exactly where k normal() calls would (either spare state, odd and even k)', () => {
    for (const start of [0, 1, 2, 3]) {
      for (const k of [0, 1, 2, 3, 7, 10]) {
        const a = new Rng(42)
        const b = new Rng(42)
        for (let i = 0; i < start; i++) a.normal(), b.normal()
        for (let i = 0; i < k; i++) a.normal()
        b.skipNormals(k)
        expect(b.state(), `start ${start}, k ${k}`).toBe(a.state())
        expect(b.normal()).toBe(a.normal())
      }
    }
    expect(() => new Rng(1).skipNormals(-1)).toThrow(/skipNormals/)
  })

  it('rejects malformed states and seeds', () => {
    expect(() => Rng.fromState('nope')).toThrow(InputError)
    expect(() => Rng.fromState('xoshiro128ss:' + '0'.repeat(32))).toThrow(InputError)
    expect(() => Rng.fromState('xoshiro128ss:' + '1'.repeat(32) + ':abc')).toThrow(InputError)
    expect(() => new Rng(0.5)).toThrow(InputError)
  })

  it('derive() gives independent, reproducible streams', () => {
    const a = Rng.derive(5, 1, 2)
    const b = Rng.derive(5, 1, 2)
    const c = Rng.derive(5, 2, 1)
    const x = a.uint32()
    expect(b.uint32()).toBe(x)
    expect(c.uint32()).not.toBe(x)
    expect(new Rng(-3).uint32()).toBe(new Rng(-3).uint32())
  })
})

describe('counter hash', () => {
  it('is a pure, order-sensitive function of its words', () => {
    expect(hash64(1, 2, 3)).toBe(hash64(1, 2, 3))
    expect(hash64(1, 2, 3)).not.toBe(hash64(3, 2, 1))
    expect(hash64(1, 2)).not.toBe(hash64(1, 2, 0))
    expect(mix64(0n)).toBe(0n) // the finaliser fixes 0, which is why hash64 offsets its inputs
    expect(hash64(0)).not.toBe(0n)
    expect(() => hash64(1.5)).toThrow(InputError)
  })

  it('counterInt stays in range and spreads evenly; counterUnit in [0, 1)', () => {
    const hist = new Array(8).fill(0)
    let bad = 0
    for (let i = 0; i < 40_000; i++) {
      const k = counterInt(8, 123, i)
      if (!(k >= 0 && k < 8)) bad++
      hist[k]++
      const u = counterUnit(123, i)
      if (!(u >= 0 && u < 1)) bad++
    }
    expect(bad).toBe(0)
    for (const h of hist) expect(Math.abs(h - 5000)).toBeLessThan(300)
    expect(counterInt(Number.MAX_SAFE_INTEGER, 1, 2)).toBeLessThan(Number.MAX_SAFE_INTEGER)
    expect(() => counterInt(0, 1)).toThrow(InputError)
  })
})

const PINNED_U32_SEED_42 = [1776835114, 4165204688, 17111135, 2317295270]
