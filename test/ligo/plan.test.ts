import {describe, expect, it} from 'vitest'

import {gstackTokens, parseCount, plan} from '../../src/ligo/plan.js'
import {json, ligo} from '../cli/run.js'

describe('ligo plan (G_stack growth timing)', () => {
  // Hand-computed, log10(d) = 0.88·log10(N) + 163.27/log10(C) − 5.74 with C = 6·N·D:
  // 7B on 300B tokens: C = 1.26e22, log10 C = 22.100371; 0.88 × 9.845098 = 8.663686; 163.27 / 22.100371 = 7.387659;
  //   8.663686 + 7.387659 − 5.74 = 10.311345 → d = 10^10.311345 = 2.0481e10 tokens.
  // Llama2-7B on 2T: C = 8.4e22, log10 C = 22.924279; 8.663686 + 7.122144 − 5.74 = 10.045829 → 1.1113e10 (the prts README: 11.11B).
  // Llama3-8B on 15T: C = 7.2e23, log10 C = 23.857332; 0.88 × 9.903090 = 8.714719; 163.27 / 23.857332 = 6.843599;
  //   8.714719 + 6.843599 − 5.74 = 9.818317 → 6.5814e9 (the README: 6.58B).
  const points: [string, number, number, number, number][] = [
    ['7B on 300B tokens', 7e9, 300e9, 10.311345, 2.0481e10],
    ['Llama2-7B on 2T tokens', 7e9, 2e12, 10.045829, 1.1113e10],
    ['Llama3-8B on 15T tokens', 8e9, 15e12, 9.818317, 6.5814e9],
  ]
  for (const [name, N, D, log10d, d] of points) {
    it(`gives the guideline exactly as the formula does: ${name}`, () => {
      const p = plan({params: N, tokens: D})
      expect(p.flops).toBe(6 * N * D)
      expect(p.log10_d).toBeCloseTo(log10d, 5)
      expect(p.d_tokens / d).toBeCloseTo(1, 4)
      expect(gstackTokens(N, 6 * N * D)).toBe(p.d_tokens)
      // The budget given as FLOPs is the same plan.
      expect(plan({params: N, flops: 6 * N * D}).d_tokens).toBeCloseTo(p.d_tokens, 0)
      expect(p.growth_factor).toBe(4)
      expect(p.source_params).toBe(N / 4)
      expect(p.source_flops).toBeCloseTo(6 * (N / 4) * p.d_tokens, -8)
      expect(p.saving_floor.fraction).toBeCloseTo((0.75 * p.d_tokens) / D, 12)
    })
  }

  it('says which ranges the fit was made on and warns outside them; refuses a budget given twice or not at all', () => {
    const p = plan({params: 7e9, tokens: 300e9})
    expect(p.fit.ranges).toMatch(/410M, 1\.1B and 3B/)
    expect(p.fit.params).toEqual([410e6, 3e9])
    expect(p.fit.flops).toEqual([0.8e20, 12e20])
    // 7B at C = 1.26e22 is outside both the fitted sizes and budgets (d = 20.5B is inside the timings tried).
    expect(p.fit.extrapolated).toHaveLength(2)
    expect(p.warnings.join(' ')).toMatch(/^extrapolation: N = 7\.000e\+9 is outside the fitted targets.*C = 1\.260e\+22 FLOPs is outside/)
    // Inside the fit: the 1.1B target at 5e20 FLOPs (a Figure 8b budget) → log10 d = 0.88·9.041393 + 163.27/20.698970 − 5.74
    //   = 7.956426 + 7.887832 − 5.74 = 10.104258 → d = 12.71B tokens; no warning.
    const inside = plan({params: 1.1e9, flops: 5e20})
    expect(inside.log10_d).toBeCloseTo(10.104258, 5)
    expect(inside.fit.extrapolated).toEqual([])
    expect(inside.warnings).toEqual([])
    // d beyond the longest timing tried (50B) is flagged too: Llama2-70B on 2T gives the README's 42.48B (inside),
    // a GPT-3-sized 175B on 300B tokens gives ≈ 83B (beyond).
    const l70 = plan({params: 70e9, tokens: 2e12})
    expect(l70.d_tokens / 42.48e9).toBeCloseTo(1, 3)
    expect(l70.fit.extrapolated.join(' ')).not.toMatch(/growth timing/)
    expect(plan({params: 175e9, tokens: 300e9}).fit.extrapolated.join(' ')).toMatch(/beyond the longest growth timing tried/)
    expect(p.operator.stack_flops).toBe(0)
    expect(p.measured.token_saving).toBeCloseTo(1 - 194 / 300, 12)
    expect(() => plan({params: 7e9})).toThrow(/--tokens or --flops/)
    expect(() => plan({params: 7e9, tokens: 1e9, flops: 1e20})).toThrow(/--tokens or --flops/)
    // A budget too small for the guideline: d ≥ D is flagged.
    expect(plan({params: 1e6, tokens: 1e6}).warnings.join(' ')).toMatch(/not below the whole budget/)
    expect(parseCount('--params', '7B')).toBe(7e9)
    expect(parseCount('--tokens', '1.5T')).toBe(1.5e12)
    expect(parseCount('--flops', '1.26e22')).toBe(1.26e22)
    expect(() => parseCount('--params', '7X')).toThrow(/--params 7X: expected a positive number/)
  })

  it('prints a table and --json from the CLI', () => {
    const r = ligo(['plan', '--params', '7B', '--tokens', '300B'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/grow after\s+d = 20\.48G tokens/)
    expect(r.stdout).toMatch(/fit ranges\s+fitted \(paper §4\.2/)
    expect(r.stderr).toMatch(/extrapolation: N = 7\.000e\+9/)
    const j = json(['plan', '--params', '7e9', '--flops', '1.26e22'])
    expect(j.d_tokens / 2.0481e10).toBeCloseTo(1, 4)
    expect(ligo(['plan', '--params', '7B']).code).toBe(2)
  })
})
