import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DataDir, loadDataDir} from '../../src/data/prepare.js'
import {type CoordRow, coordCheck, coordSpread} from '../../src/mup/coord.js'
import {smallBrown, useCpu} from '../helpers.js'

let data: DataDir
let rows: CoordRow[]
beforeAll(async () => {
  await useCpu()
  data = loadDataDir(await smallBrown())
  // Widths 16..128 (×8), head size 8, 2 blocks; 3 real AdamW steps at a large fixed LR on Brown, 2 seeds averaged.
  // Query zero-init (TP5 D.2) as mup's own coordinate checks use it.
  rows = await coordCheck({
    tokens: data.train, widths: [16, 32, 64, 128], steps: 3, lr: 1e-2, n_layer: 2, head_size: 8, batch: 4, seq: 16,
    seeds: [0, 1], model: {zero_query: true},
  })
})
afterAll(() => data?.close())

describe('coordinate check', () => {
  it('records every probe at init and after each step, for every width and parametrization', () => {
    const probes = ['embed', 'h.0.attn_logits', 'h.0.out', 'h.1.attn_logits', 'h.1.out', 'logits']
    expect(rows.length).toBe(2 * 4 * 4 * probes.length)
    expect(new Set(rows.map((r) => r.probe))).toEqual(new Set(probes))
    for (const r of rows) expect(Number.isFinite(r.value) && r.value >= 0).toBe(true)
    // µP at the base width (the smallest) is SP exactly, so their measurements agree.
    const at = (param: string, probe: string, step: number) => rows.find((r) => r.param === param && r.width === 16 && r.probe === probe && r.step === step)!.value
    for (const p of probes) expect(at('mup', p, 3)).toBe(at('sp', p, 3))
  })

  it('keeps µP activations flat in width after real steps while SP grows with width', () => {
    const spread = coordSpread(rows)
    const get = (param: string, probe: string) => spread.find((s) => s.param === param && s.probe === probe)!
    for (const probe of ['embed', 'h.0.out', 'h.1.out', 'logits']) {
      // µP: the largest width's mean |x| is within 2× of the smallest's (in practice within ~1.2×).
      const r = get('mup', probe).ratio
      expect(r, `µP ${probe}`).toBeGreaterThan(1 / 2)
      expect(r, `µP ${probe}`).toBeLessThan(2)
    }
    for (const probe of ['h.0.out', 'h.1.out']) expect(get('sp', probe).ratio, `SP ${probe}`).toBeGreaterThan(4)
    expect(get('sp', 'logits').ratio, 'SP logits').toBeGreaterThan(3)
    // Attention logits are small this early and carry O(1/√width) finite-width corrections and seed noise at
    // 2–16 heads of size 8, so the bound is looser; SP's still grow by an order of magnitude.
    for (const probe of ['h.0.attn_logits', 'h.1.attn_logits']) {
      const r = get('mup', probe).ratio
      expect(r, `µP ${probe}`).toBeGreaterThan(1 / 3)
      expect(r, `µP ${probe}`).toBeLessThan(3)
      expect(get('sp', probe).ratio, `SP ${probe}`).toBeGreaterThan(4)
    }
  })
})
