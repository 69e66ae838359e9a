import {describe, expect, it} from 'vitest'

import {lineChart, lineChartSpec} from '../../src/report/plot.js'

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const rows = [
  ...[64, 128, 256].flatMap((width) => [-10, -9, -8, -7].map((log2_lr) => ({param: 'sp', width, log2_lr, loss: 3 + ((log2_lr + 8) ** 2) / 10}))),
  {param: 'sp', width: 256, log2_lr: -6, loss: null}, // a diverged run
  {param: 'sp', width: 256, log2_lr: -5, loss: Number.NaN},
]

describe('lineChart', () => {
  it('renders a valid SVG and a PNG', async () => {
    const c = await lineChart({title: 'Loss vs LR', x: {field: 'log2_lr', title: 'log2 LR'}, y: {field: 'loss'}, series: 'width', data: rows})
    expect(c.svg.startsWith('<svg')).toBe(true)
    expect(c.svg.trimEnd().endsWith('</svg>')).toBe(true)
    expect(c.svg).toContain('xmlns="http://www.w3.org/2000/svg"')
    expect(c.svg).toContain('Loss vs LR')
    expect(c.svg).toContain('log2 LR')
    expect((c.svg.match(/<path/g) ?? []).length).toBeGreaterThan(3) // one line per width plus axes and points
    expect([...c.png.subarray(0, 8)]).toEqual(PNG_MAGIC)
    expect(c.png.length).toBeGreaterThan(1000)
  })

  it('leaves out rows without a finite value, and non-positive values on log axes', () => {
    const spec = lineChartSpec({title: 't', x: {field: 'log2_lr'}, y: {field: 'loss'}, series: 'width', data: rows}) as {data: {values: unknown[]}}
    expect(spec.data.values).toHaveLength(12)
    const log = lineChartSpec({title: 't', x: {field: 'x', scale: 'log', base: 2}, y: {field: 'y', scale: 'log'}, series: 's', data: [
      {x: 16, y: 1, s: 'a'}, {x: 32, y: 0, s: 'a'}, {x: 0, y: 2, s: 'a'},
    ]}) as {data: {values: unknown[]}; encoding: {x: {scale: unknown}}}
    expect(log.data.values).toEqual([{x: 16, y: 1, s: 'a'}])
    expect(log.encoding.x.scale).toEqual({type: 'log', base: 2})
  })

  it('draws one panel per facet value', async () => {
    const c = await lineChart({
      title: 'panels', x: {field: 'log2_lr'}, y: {field: 'loss'}, series: 'width',
      facet: {field: 'param', sort: ['sp', 'mup']}, data: [...rows, ...rows.map((r) => ({...r, param: 'mup'}))],
    })
    expect(c.svg).toContain('>sp<')
    expect(c.svg).toContain('>mup<')
    expect([...c.png.subarray(0, 8)]).toEqual(PNG_MAGIC)
  })
})
