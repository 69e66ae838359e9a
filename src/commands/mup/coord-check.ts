import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, duration} from '../../cli/base.js'
import {ensureOutputDir, writeFileAtomic} from '../../checkpoints/atomic.js'
import {loadDataDir} from '../../data/prepare.js'
import {type CoordRow, type CoordSpread, coordCheck, coordSpread} from '../../mup/coord.js'
import {checkWidths, parseNumberList, parseParams} from '../../mup/models.js'
import {coordChart, writeChart} from '../../mup/plots.js'

export interface CoordCheckResult {
  out: string
  files: string[]
  seconds: number
  /** Per parametrization and probe: value at the largest width / at the smallest, and the log-log slope, at the last step. */
  spread: CoordSpread[]
  rows: CoordRow[]
}

export default class MupCoordCheck extends BaseCommand {
  static summary = 'Coordinate check: activation sizes vs width after a few AdamW steps, SP vs µP (flat under µP).'
  static description = `Builds the same-depth model at each width (head size fixed, d_ffn = 4·width, µP base = the smallest width), trains each --steps AdamW steps at a fixed --lr on --data, and records mean |x| of the embedding, the residual stream after each block, each block's attention logits and the output logits, at init and after every step.
Writes OUT/coord.json (rows and spreads) and OUT/coord-<param>.svg/.png.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --data data/brown -o runs/coord',
    '<%= config.bin %> <%= command.id %> --data data/brown -o runs/coord --widths 64,128,256,512 --steps 3 --param sp,mup --seeds 2',
  ]

  static flags = {
    data: Flags.string({char: 'd', description: 'prepared data directory (ligo data prepare)', required: true}),
    out: Flags.string({char: 'o', description: 'output directory', required: true}),
    widths: Flags.string({description: 'comma-separated widths (d_model), multiples of --head-size', default: '64,128,256,512'}),
    param: Flags.string({description: 'parametrizations: sp, mup or sp,mup', default: 'sp,mup'}),
    steps: Flags.integer({min: 0, description: 'AdamW steps per model', default: 3}),
    lr: Flags.string({description: 'fixed learning rate (large, so training moves the weights)', default: '0.01'}),
    layers: Flags.integer({min: 1, description: 'blocks (same at every width)', default: 2}),
    'head-size': Flags.integer({min: 1, description: 'head size (heads = width / head size)', default: 16}),
    batch: Flags.integer({min: 1, description: 'sequences per step', default: 8}),
    seq: Flags.integer({min: 1, description: 'tokens per sequence', default: 32}),
    seeds: Flags.integer({min: 1, description: 'seeds to average over', default: 1}),
    'zero-query': Flags.boolean({description: 'zero-initialise the query projections (TP5 D.2)', default: false}),
    force: Flags.boolean({description: 'write into a non-empty output directory', default: false}),
  }

  async run(): Promise<CoordCheckResult> {
    const {flags} = await this.parse(MupCoordCheck)
    await this.useBackend(flags.backend)
    const [lr] = parseNumberList('--lr', flags.lr, {min: Number.MIN_VALUE})
    const widths = checkWidths(parseNumberList('--widths', flags.widths, {integer: true, min: 1}), flags['head-size'])
    const params = parseParams('--param', flags.param)
    const data = loadDataDir(flags.data)
    ensureOutputDir(flags.out, {force: flags.force})
    const t0 = performance.now()
    let rows: CoordRow[]
    try {
      rows = await coordCheck({
        tokens: data.train, widths, params,
        steps: flags.steps, lr, n_layer: flags.layers, head_size: flags['head-size'], batch: flags.batch, seq: flags.seq,
        seeds: Array.from({length: flags.seeds}, (_, i) => i), model: {zero_query: flags['zero-query']},
        onProgress: (p) => this.progress(`model ${p.done}/${p.total}: ${p.param} width ${p.width} seed ${p.seed}`),
      })
    } finally {
      data.close()
    }
    this.progressDone()
    const spread = coordSpread(rows)
    const files = [path.join(flags.out, 'coord.json')]
    for (const param of new Set(rows.map((r) => r.param))) files.push(...writeChart(flags.out, `coord-${param}`, await coordChart(rows, param)))
    const seconds = (performance.now() - t0) / 1000
    writeFileAtomic(files[0], JSON.stringify({flags, seconds, spread, rows}, null, 1) + '\n')
    this.log(`mean |x| at step ${spread[0]?.step ?? 0}, largest width / smallest (log2-log2 slope; 0 = flat, 1 = ∝ width):`)
    for (const s of spread) this.log(`  ${s.param.padEnd(4)} ${s.probe.padEnd(24)} ×${s.ratio.toFixed(2).padEnd(8)} slope ${s.slope.toFixed(2)}`)
    this.log(`wrote ${files.join(', ')} in ${duration(seconds)}`)
    return {out: flags.out, files, seconds, spread, rows}
  }
}
