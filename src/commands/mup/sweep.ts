import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, duration} from '../../cli/base.js'
import {ensureOutputDir, writeFileAtomic} from '../../checkpoints/atomic.js'
import {loadDataDir} from '../../data/prepare.js'
import {checkWidths, parseNumberList, parseParams} from '../../mup/models.js'
import {sweepChart, writeChart} from '../../mup/plots.js'
import {type BestLr, type SweepRow, bestLrs, lrSweep} from '../../mup/sweep.js'

export interface SweepResult {
  out: string
  files: string[]
  seconds: number
  /** The grid LR with the lowest validation loss per parametrization and width. */
  best: BestLr[]
  rows: SweepRow[]
}

export default class MupSweep extends BaseCommand {
  static summary = 'µTransfer check: sweep the global LR on a log2 grid at several widths, SP vs µP.'
  static description = `Trains the same-depth model at each width (head size fixed, d_ffn = 4·width, µP base = the smallest width) for --steps AdamW steps (warmup, cosine decay, clip 1, no weight decay) at every LR 2^k of --lrs, and scores each run by validation loss. Under µP the best LR should stay put as width grows; under SP it drifts.
Writes OUT/sweep.json and OUT/sweep.svg/.png (loss vs log2 LR, one line per width, SP and µP panels).`

  static examples = [
    '<%= config.bin %> <%= command.id %> --data data/brown -o runs/sweep',
    '<%= config.bin %> <%= command.id %> --data data/brown -o runs/sweep --widths 64,128,256 --lrs=-12,-11,-10,-9,-8,-7 --steps 100',
  ]

  static flags = {
    data: Flags.string({char: 'd', description: 'prepared data directory (ligo data prepare)', required: true}),
    out: Flags.string({char: 'o', description: 'output directory', required: true}),
    widths: Flags.string({description: 'comma-separated widths (d_model), multiples of --head-size', default: '64,128,256'}),
    lrs: Flags.string({description: 'log2 of the learning rates, comma-separated (use --lrs=-10,-9,...)', default: '-12,-11,-10,-9,-8,-7'}),
    param: Flags.string({description: 'parametrizations: sp, mup or sp,mup', default: 'sp,mup'}),
    steps: Flags.integer({min: 1, description: 'training steps per run', default: 100}),
    warmup: Flags.integer({min: 0, description: 'LR warmup steps', default: 10}),
    layers: Flags.integer({min: 1, description: 'blocks (same at every width)', default: 2}),
    'head-size': Flags.integer({min: 1, description: 'head size (heads = width / head size)', default: 16}),
    batch: Flags.integer({min: 1, description: 'sequences per step', default: 8}),
    seq: Flags.integer({min: 1, description: 'tokens per sequence', default: 64}),
    'eval-batches': Flags.integer({min: 1, description: 'validation batches scored per run', default: 8}),
    seed: Flags.integer({min: 0, description: 'seed of init and batches (the same for every run)', default: 1337}),
    force: Flags.boolean({description: 'write into a non-empty output directory', default: false}),
  }

  async run(): Promise<SweepResult> {
    const {flags} = await this.parse(MupSweep)
    await this.useBackend(flags.backend)
    const widths = checkWidths(parseNumberList('--widths', flags.widths, {integer: true, min: 1}), flags['head-size'])
    const lrs = parseNumberList('--lrs', flags.lrs)
    const params = parseParams('--param', flags.param)
    const data = loadDataDir(flags.data)
    ensureOutputDir(flags.out, {force: flags.force})
    const t0 = performance.now()
    let rows: SweepRow[]
    try {
      rows = await lrSweep({
        train: data.train, val: data.val, widths, log2_lrs: lrs, params, steps: flags.steps, warmup: flags.warmup,
        n_layer: flags.layers, head_size: flags['head-size'], batch: flags.batch, seq: flags.seq, eval_batches: flags['eval-batches'], seed: flags.seed,
        onRun: (r, done, total) => this.progress(`run ${done}/${total}: ${r.param} width ${r.width} lr 2^${r.log2_lr} → ${r.val_loss === null ? 'diverged' : `val ${r.val_loss.toFixed(4)}`} (${r.seconds.toFixed(1)} s)`),
      })
    } finally {
      data.close()
    }
    this.progressDone()
    const best = bestLrs(rows)
    const files = [path.join(flags.out, 'sweep.json'), ...writeChart(flags.out, 'sweep', await sweepChart(rows))]
    const seconds = (performance.now() - t0) / 1000
    writeFileAtomic(files[0], JSON.stringify({flags, seconds, best, rows}, null, 1) + '\n')
    this.log('best learning rate per width (validation loss):')
    for (const b of best) this.log(`  ${b.param.padEnd(4)} width ${String(b.width).padEnd(5)} lr 2^${b.log2_lr} = ${b.lr.toPrecision(3)}  val ${b.val_loss.toFixed(4)}`)
    this.log(`wrote ${files.join(', ')} in ${duration(seconds)}`)
    return {out: flags.out, files, seconds, best, rows}
  }
}
