import {describe, expect, it} from 'vitest'

import {incompleteBeta, logGamma, tCdf, tInterval, tQuantile} from '../../src/report/stats.js'

describe('Student t', () => {
  it('log-gamma matches factorials and Γ(1/2) = √π', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12)
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12)
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12)
    expect(logGamma(0.25)).toBeCloseTo(Math.log(3.6256099082219083), 12)
  })

  it('the incomplete beta function has its closed forms', () => {
    // I_x(1, b) = 1 − (1 − x)^b; I_x(a, 1) = x^a; I_x(a, b) = 1 − I_(1−x)(b, a).
    expect(incompleteBeta(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** 4, 13)
    expect(incompleteBeta(0.3, 2.5, 1)).toBeCloseTo(0.3 ** 2.5, 13)
    expect(incompleteBeta(0.42, 3.5, 0.5)).toBeCloseTo(1 - incompleteBeta(0.58, 0.5, 3.5), 13)
    expect(incompleteBeta(0, 2, 3)).toBe(0)
    expect(incompleteBeta(1, 2, 3)).toBe(1)
  })

  it('the t CDF has its closed forms (Cauchy at df 1, t/√(2+t²) at df 2)', () => {
    for (const t of [-3, -0.4, 0, 0.7, 5]) {
      expect(tCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12)
      expect(tCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12)
    }
  })

  it('quantiles match the printed tables and the normal limit', () => {
    // Two-sided 95% (p 0.975) and 99% (p 0.995) rows of the standard t table; p 0.9875 from R's qt(0.9875, df).
    const table: [number, number, number][] = [
      [0.975, 1, 12.7062], [0.975, 2, 4.3027], [0.975, 3, 3.1824], [0.975, 11, 2.201], [0.975, 30, 2.0423],
      [0.995, 3, 5.8409], [0.995, 11, 3.1058], [0.9875, 3, 4.1765], [0.9875, 11, 2.5931],
    ]
    for (const [p, df, q] of table) expect(tQuantile(p, df)).toBeCloseTo(q, 3)
    expect(tQuantile(0.975, 1e6)).toBeCloseTo(1.959964, 4)
    expect(tQuantile(0.025, 3)).toBeCloseTo(-3.1824, 3)
    expect(tQuantile(0.5, 7)).toBeCloseTo(0, 10)
    for (const df of [1, 3, 11]) expect(tCdf(tQuantile(0.9875, df), df)).toBeCloseTo(0.9875, 10)
    expect(() => tQuantile(1, 3)).toThrow(RangeError)
    expect(() => tQuantile(0.9, 0)).toThrow(RangeError)
  })

  it('tInterval: mean ± t·sd/√n, undefined for one value', () => {
    const i = tInterval([1, 2, 3, 6], 0.95)!
    expect(i.mean).toBe(3)
    expect(i.sd).toBeCloseTo(Math.sqrt(14 / 3), 12)
    expect(i.hi - i.mean).toBeCloseTo((3.1824 * Math.sqrt(14 / 3)) / 2, 3)
    expect(i.mean - i.lo).toBeCloseTo(i.hi - i.mean, 12)
    expect(tInterval([1], 0.95)).toBeUndefined()
    expect(() => tInterval([1, 2], 1)).toThrow(RangeError)
  })
})
