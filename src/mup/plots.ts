/**
 * Charts of the µP checks, drawn with the generic line chart in src/report/plot.ts:
 * - coordinate check: mean |x| against width (both log2) with one line per probe, one panel per step;
 * - LR sweep: loss against log2 LR with one line per width, one panel per parametrization.
 */
import * as path from 'node:path'

import {writeFileAtomic} from '../checkpoints/atomic.js'
import {type Chart, lineChart} from '../report/plot.js'
import type {CoordRow} from './coord.js'
import type {Parametrization} from './rules.js'
import type {SweepRow} from './sweep.js'

/** The coordinate-check chart of one parametrization. */
export function coordChart(rows: readonly CoordRow[], param: Parametrization): Promise<Chart> {
  const mine = rows.filter((r) => r.param === param)
  const widths = [...new Set(mine.map((r) => r.width))].sort((a, b) => a - b)
  const steps = [...new Set(mine.map((r) => r.step))].sort((a, b) => a - b)
  return lineChart({
    title: `coordinate check, ${param === 'mup' ? 'µP' : 'SP'}: mean |x| vs width after t AdamW steps`,
    x: {field: 'width', title: 'width (d_model)', scale: 'log', base: 2, ticks: widths},
    y: {field: 'value', title: 'mean |x|', scale: 'log'},
    series: 'probe',
    facet: {field: 't', title: 'steps', sort: steps.map((s) => `t=${s}`)},
    data: mine.map((r) => ({...r, t: `t=${r.step}`})),
    width: 220,
    height: 220,
  })
}

/**
 * The LR-sweep chart: validation loss against log2 LR per width, SP and µP side by side. The loss axis spans the
 * finite losses, at most `span` nats above the best (higher points are clipped), so a few diverged or stalled
 * runs do not flatten the curves that matter.
 */
export function sweepChart(rows: readonly SweepRow[], span = 1.5): Promise<Chart> {
  const finite = rows.filter((r) => r.val_loss !== null).map((r) => r.val_loss!)
  const lo = finite.length ? Math.min(...finite) : 0
  const hi = finite.length ? Math.min(Math.max(...finite), lo + span) : 1
  return lineChart({
    title: 'µTransfer: validation loss vs learning rate',
    x: {field: 'log2_lr', title: 'log2 learning rate', ticks: [...new Set(rows.map((r) => r.log2_lr))].sort((a, b) => a - b)},
    y: {field: 'val_loss', title: 'validation loss (nats/token)', domain: [Math.floor(lo * 20) / 20, Math.ceil(hi * 20) / 20]},
    series: 'width',
    facet: {field: 'parametrization', title: '', sort: ['SP', 'µP']},
    data: rows.map((r) => ({...r, parametrization: r.param === 'mup' ? 'µP' : 'SP'})),
    width: 320,
    height: 240,
  })
}

/** Writes DIR/NAME.svg and DIR/NAME.png; returns their paths. */
export function writeChart(dir: string, name: string, chart: Chart): string[] {
  const files = [path.join(dir, `${name}.svg`), path.join(dir, `${name}.png`)]
  writeFileAtomic(files[0], chart.svg)
  writeFileAtomic(files[1], chart.png)
  return files
}
