import * as fs from 'node:fs'
import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../cli/base.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {loadDataDir, prepareData} from '../data/prepare.js'
import {tokenizerFromJSON} from '../data/tokenizer.js'
import {InputError} from '../errors.js'
import {generate} from '../model/generate.js'
import {type GrowEvent, grow} from '../ligo/grow.js'
import {resolveRunConfig} from '../train/config.js'
import {type TrainEvent, train} from '../train/trainer.js'

/** One row of the demo's closing table. */
export interface DemoRow {
  model: string
  params: number
  /** Steps of this stage (training or operator steps). */
  steps: number
  /** FLOPs spent by this stage (training, or LiGO's operator). */
  flops: number
  val_loss: number
}

export interface DemoResult {
  out: string
  rows: DemoRow[]
  small: {val_loss: number; params: number}
  grown: {val_init?: number; val_after_ligo?: number; val_final: number; params: number}
  scratch: {val_final: number; params: number}
  sample: string
  elapsed_s: number
}

/** The file that marks a directory as the demo's own, so that a second `ligo demo` may replace it. */
const MARK = 'ligo-demo.json'
/** What the demo writes into its directory (and removes when it runs again). */
const PARTS = ['small', 'grown', 'grown-trained', 'scratch-init', 'scratch']

export default class Demo extends BaseCommand {
  // Piped, each stage prints a line at 0, 25, 50, 75 and 100%: the whole demo stays under 60 lines.
  protected override progressFraction = 0.25
  protected override progressSeconds = 60

  static summary = 'A few-minute end-to-end run on the Brown corpus: pretrain a small µP model, grow it with LiGO, train it, and compare with a model trained from scratch.'
  static description = `Prepares Brown into OUT/data, pretrains a 2 × 64 GPT (µP), grows it to 4 × 128 with LiGO (the tool's default operator: 25 steps), trains the grown model, trains a 4 × 128 model from scratch for the same steps and schedule, samples from the grown model, and ends with a table: the source, the grown model at initialisation, after LiGO and after training, and the from-scratch model. All losses are on the same evaluation set (--eval-batches batches of 16 × 128 validation tokens).
OUT (default runs/demo) belongs to the demo: running it again replaces what the previous demo wrote there (it keeps OUT/data). A directory that is not a demo's is refused unless --force.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -o /tmp/demo --json', '<%= config.bin %> <%= command.id %> --small-steps 100 --train-steps 60   # a one-minute version']
  static flags = {
    out: Flags.string({char: 'o', description: 'output directory (the demo owns it: a rerun replaces the previous demo)', default: 'runs/demo'}),
    force: Flags.boolean({description: 'use OUT even if it holds something other than a previous demo (the demo still removes only its own parts)', default: false}),
    'small-steps': Flags.integer({min: 1, default: 300, description: 'pretraining steps of the 2×64 source'}),
    'grow-steps': Flags.integer({min: 1, default: 25, description: 'LiGO operator steps (the tool default)'}),
    'train-steps': Flags.integer({min: 1, default: 200, description: 'training steps of the grown model, and of the from-scratch model'}),
    'eval-batches': Flags.integer({min: 1, default: 20, description: 'validation batches of 16 × 128 tokens behind every loss in the table'}),
  }

  async run(): Promise<DemoResult> {
    const {flags} = await this.parse(Demo)
    const info = await this.useBackend(flags.backend)
    const t0 = performance.now()
    const out = flags.out
    claim(out, flags.force)
    const data = path.join(out, 'data')
    if (hasData(data)) this.note(`1/6 reusing the prepared Brown corpus in ${data}`)
    else {
      this.note(`1/6 preparing the Brown corpus → ${data}`)
      await prepareData({source: {kind: 'brown'}, out: data, force: true})
    }
    const trainEvents = (label: string) => (e: TrainEvent) => {
      if (e.kind === 'step') this.progress(`${label}: step ${e.row.step}/${e.steps}  loss ${e.row.loss.toFixed(3)}  ${fmt(e.row.tokens_per_s)} tok/s`, {done: e.row.step, total: e.steps})
    }

    // Every model is µP with the source's widths as the base: the 4 × 128 models get η/2 on their hidden matrices.
    const small = path.join(out, 'small')
    this.note(`2/6 pretraining a 2 × 64 GPT (µP) for ${flags['small-steps']} steps on ${info.name} → ${small}`)
    const cfg = resolveRunConfig({
      model: {n_layer: 2, d_model: 64, n_head: 4, n_positions: 128, param: 'mup'},
      train: {steps: flags['small-steps'], batch: 16, seq: 128, lr: 0.004, warmup: 30, eval_every: 0, eval_batches: flags['eval-batches'], save_every: 0},
    })
    const s = await train({config: cfg, dataDir: data, outDir: small, force: true, onEvent: trainEvents('source')})
    this.progressDone()

    const grown = path.join(out, 'grown')
    this.note(`3/6 growing it to 4 × 128 with LiGO (${flags['grow-steps']} operator steps) → ${grown}`)
    const growEvents = (e: GrowEvent) => {
      if (e.kind === 'step') this.progress(`LiGO operator: step ${e.step}/${e.steps}  loss ${e.loss.toFixed(3)}`, {done: e.step, total: e.steps})
    }
    const g = await grow({source: loadCheckpoint(small), target: {width: 128, depth: 4}, method: 'ligo', out: grown, force: true, dataDir: data, ligo: {steps: flags['grow-steps']}, onEvent: growEvents})
    this.progressDone()

    // The grown model and the from-scratch one train with the same schedule, steps and data order.
    const schedule = {...cfg.train, steps: flags['train-steps'], warmup: Math.min(30, Math.floor(flags['train-steps'] / 5))}
    const trained = path.join(out, 'grown-trained')
    this.note(`4/6 training the grown model for ${flags['train-steps']} steps → ${trained}`)
    const t = await train({config: resolveRunConfig({model: {...g.large}, train: schedule}), dataDir: data, outDir: trained, force: true, from: loadCheckpoint(grown), onEvent: trainEvents('grown')})
    this.progressDone()

    const scratchInit = path.join(out, 'scratch-init')
    const scratch = path.join(out, 'scratch')
    this.note(`5/6 training a 4 × 128 model from scratch for the same ${flags['train-steps']} steps → ${scratch}`)
    const r = await grow({source: loadCheckpoint(small), target: {width: 128, depth: 4}, method: 'random', out: scratchInit, force: true, evalBatches: 0})
    const sc = await train({config: resolveRunConfig({model: {...r.large}, train: schedule}), dataDir: data, outDir: scratch, force: true, from: loadCheckpoint(scratchInit), onEvent: trainEvents('scratch')})
    this.progressDone()

    this.note('6/6 sampling from the grown model')
    const ck = loadCheckpoint(trained)
    const tok = tokenizerFromJSON(ck.meta.tokenizer)
    const prompt = 'The jury said'
    const ids = generate(ck.meta.model, ck.schema, ck.weights, Array.from(tok.encode(prompt)), {tokens: 120, temperature: 0.8, topK: 40, seed: 0})
    const sample = prompt + tok.decode(ids)
    this.log(sample.replace(/\s+/g, ' '))

    const rows: DemoRow[] = [
      {model: `source, 2 × 64, pretrained ${s.step} steps`, params: g.params.small, steps: s.step, flops: s.flops, val_loss: s.val!.loss},
      {model: 'grown to 4 × 128, at initialisation', params: g.params.large, steps: 0, flops: 0, val_loss: g.val_init!},
      {model: `grown, after LiGO (${g.steps} operator steps)`, params: g.params.large, steps: g.steps, flops: g.flops, val_loss: g.val_final!},
      {model: `grown, after training ${t.step} steps`, params: g.params.large, steps: t.step, flops: t.flops, val_loss: t.val!.loss},
      {model: `from scratch, 4 × 128, trained ${sc.step} steps`, params: r.params.large, steps: sc.step, flops: sc.flops, val_loss: sc.val!.loss},
    ]
    this.log('')
    const w = Math.max(...rows.map((x) => x.model.length))
    this.log(`${'model'.padEnd(w)}  ${'params'.padStart(7)}  ${'FLOPs'.padStart(7)}  val loss`)
    for (const x of rows) this.log(`${x.model.padEnd(w)}  ${fmt(x.params).padStart(7)}  ${(x.flops ? fmt(x.flops) : '–').padStart(7)}  ${x.val_loss.toFixed(4)}`)
    const gain = sc.val!.loss - t.val!.loss
    this.log(`After the same ${t.step} training steps the grown model is ${gain >= 0 ? `${gain.toFixed(3)} nats/token below` : `${(-gain).toFixed(3)} nats/token above`} the from-scratch one;` +
      ` counting the source's pretraining and the operator it cost ${fmt(s.flops + g.flops + t.flops)} FLOPs against scratch's ${fmt(sc.flops)}.` +
      ` (val loss: nats/token on ${flags['eval-batches']} batches of 16 × 128 validation tokens, the same set for every row)`)
    const elapsed = (performance.now() - t0) / 1000
    this.note(`demo finished in ${elapsed.toFixed(0)} s; try: npx ligo info ${trained}`)
    return {
      out,
      rows,
      small: {val_loss: s.val!.loss, params: g.params.small},
      grown: {val_init: g.val_init, val_after_ligo: g.val_final, val_final: t.val!.loss, params: g.params.large},
      scratch: {val_final: sc.val!.loss, params: r.params.large},
      sample,
      elapsed_s: elapsed,
    }
  }
}

/**
 * Makes OUT the demo's: an empty or missing directory, or one a previous demo marked, is (re)used — the previous
 * demo's parts are removed, its prepared data kept; anything else needs --force (and even then only the demo's
 * parts are removed).
 */
function claim(out: string, force: boolean): void {
  const mark = path.join(out, MARK)
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new InputError(`-o ${out}: not a directory`)
    if (fs.readdirSync(out).length > 0 && !fs.existsSync(mark) && !force)
      throw new InputError(`${out} exists and is not a previous demo's directory: pass --force to use it anyway (the demo writes and replaces only ${[...PARTS, 'data'].join(', ')} there), or choose another -o`)
  }
  fs.mkdirSync(out, {recursive: true})
  for (const p of PARTS) fs.rmSync(path.join(out, p), {recursive: true, force: true})
  fs.writeFileSync(mark, JSON.stringify({format: 'ligo-demo', parts: PARTS, started: new Date().toISOString()}) + '\n')
}

function hasData(dir: string): boolean {
  try {
    const d = loadDataDir(dir)
    d.close()
    return (d.meta.source as {kind?: string}).kind === 'brown'
  } catch {
    return false
  }
}
