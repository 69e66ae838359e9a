/** Piped progress (tqdm-like throttling), the spinner's terminal check, and "did you mean" for unknown flags. */
import {describe, expect, it} from 'vitest'

import {suggest} from '../../src/cli/base.js'
import {ProgressThrottle, etaSeconds, spinnerAllowed} from '../../src/cli/progress.js'

describe('ProgressThrottle', () => {
  it('prints the first update, each 5% mark, and the last: 21 lines for 1,000 fast steps', () => {
    const t = new ProgressThrottle({fraction: 0.05, seconds: 10})
    const printed: number[] = []
    for (let i = 1; i <= 1000; i++) if (t.due(i * 100, {done: i, total: 1000})) printed.push(i) // 100 ms per step
    expect(printed).toEqual([1, ...Array.from({length: 20}, (_, k) => 50 * (k + 1))])
  })

  it('prints at most every 10 s between marks when steps are slow', () => {
    const t = new ProgressThrottle({fraction: 0.5, seconds: 10, minSeconds: 1})
    const printed: number[] = []
    for (let i = 1; i <= 100; i++) if (t.due(i * 3000, {done: i, total: 100})) printed.push(i) // 3 s per step
    // first; every 4th step (12 s ≥ 10 s after the last line); the 50% mark; the last
    expect(printed[0]).toBe(1)
    expect(printed).toContain(50)
    expect(printed.at(-1)).toBe(100)
    for (let k = 1; k < printed.length; k++) expect(printed[k] - printed[k - 1]).toBeLessThanOrEqual(4)
    expect(printed.length).toBeLessThan(30)
  })

  it('a fast loop does not print every mark: at least a second between lines, the last always', () => {
    const t = new ProgressThrottle({fraction: 0.05, seconds: 10, minSeconds: 1})
    const printed: number[] = []
    for (let i = 1; i <= 20; i++) if (t.due(i * 300, {done: i, total: 20})) printed.push(i) // 300 ms per step
    expect(printed).toEqual([1, 5, 9, 13, 17, 20])
  })

  it('without a known total, prints the first update and then one per interval', () => {
    const t = new ProgressThrottle({fraction: 0.05, seconds: 10})
    const printed = [0, 1000, 5000, 9999, 10_000, 15_000, 20_001].filter((ms) => t.due(ms))
    expect(printed).toEqual([0, 10_000, 20_001])
  })

  it('a coarser fraction gives fewer lines (the demo: 0, 25, 50, 75, 100%)', () => {
    const t = new ProgressThrottle({fraction: 0.25, seconds: 1e9, minSeconds: 0})
    const printed: number[] = []
    for (let i = 1; i <= 200; i++) if (t.due(i, {done: i, total: 200})) printed.push(i)
    expect(printed).toEqual([1, 50, 100, 150, 200])
  })
})

describe('spinnerAllowed', () => {
  it('needs a terminal with a positive width, outside CI', () => {
    expect(spinnerAllowed({isTTY: true, columns: 80}, {})).toBe(true)
    expect(spinnerAllowed({isTTY: true, columns: 0}, {})).toBe(false) // ora would redraw forever
    expect(spinnerAllowed({isTTY: true}, {})).toBe(false)
    expect(spinnerAllowed({isTTY: false, columns: 80}, {})).toBe(false)
    expect(spinnerAllowed({isTTY: true, columns: 80}, {CI: 'true'})).toBe(false)
    expect(spinnerAllowed({isTTY: true, columns: 80}, {TERM: 'dumb'})).toBe(false)
  })
})

describe('etaSeconds', () => {
  it('extrapolates the time per unit', () => {
    expect(etaSeconds(10, {done: 5, total: 20})).toBeCloseTo(30)
    expect(etaSeconds(10, {done: 0, total: 20})).toBeUndefined()
  })
})

describe('suggest', () => {
  it('names the closest flags', () => {
    const flags = ['steps', 'seq', 'seed', 'json', 'warmup', 'width', 'width-init', 'eval-batches']
    expect(suggest('stesp', flags)).toEqual(['steps'])
    expect(suggest('jsn', flags)).toEqual(['json'])
    expect(suggest('widht', flags)[0]).toBe('width')
    expect(suggest('eval', flags)).toEqual(['eval-batches'])
    expect(suggest('zzzzzz', flags)).toEqual([])
  })
})
