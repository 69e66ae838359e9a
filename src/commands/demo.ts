import * as fs from 'node:fs'
import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../cli/base.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {prepareData} from '../data/prepare.js'
import {tokenizerFromJSON} from '../data/tokenizer.js'
import {generate} from '../model/generate.js'
import {grow} from '../ligo/grow.js'
import {resolveRunConfig} from '../train/config.js'
import {train} from '../train/trainer.js'

export interface DemoResult {
  out: string
  small: {val_loss: number; params: number}
  grown: {val_init?: number; val_after_ligo?: number; val_final: number; params: number}
  sample: string
  elapsed_s: number
}

export default class Demo extends BaseCommand {
  static summary = 'A few-minute end-to-end run on the Brown corpus: prepare, pretrain a small model, grow it with LiGO, train, sample.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -o /tmp/demo --force --json']
  static flags = {
    out: Flags.string({char: 'o', description: 'output directory', default: 'runs/demo'}),
    force: Flags.boolean({description: 'overwrite a previous demo', default: false}),
    'small-steps': Flags.integer({min: 1, default: 300, description: 'pretraining steps of the 2×64 source'}),
    'grow-steps': Flags.integer({min: 1, default: 30, description: 'LiGO operator steps'}),
    'train-steps': Flags.integer({min: 1, default: 200, description: 'training steps of the grown 4×128 model'}),
  }

  async run(): Promise<DemoResult> {
    const {flags} = await this.parse(Demo)
    const info = await this.useBackend(flags.backend)
    const t0 = performance.now()
    const out = flags.out
    if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !flags.force) this.error(`${out} already exists: pass --force to redo the demo`, {exit: 2})
    fs.mkdirSync(out, {recursive: true})
    const data = path.join(out, 'data')
    this.note(`1/5 preparing the Brown corpus → ${data}`)
    await prepareData({source: {kind: 'brown'}, out: data, force: true})

    const small = path.join(out, 'small')
    this.note(`2/5 pretraining a 2-layer, 64-wide GPT for ${flags['small-steps']} steps on ${info.name} → ${small}`)
    const cfg = resolveRunConfig({
      model: {n_layer: 2, d_model: 64, n_head: 4, n_positions: 128},
      train: {steps: flags['small-steps'], batch: 16, seq: 128, lr: 0.002, warmup: 30, eval_every: 0, eval_batches: 20, save_every: 0},
    })
    const s = await train({config: cfg, dataDir: data, outDir: small, force: true, onEvent: (e) => e.kind === 'step' && this.progress(`step ${e.row.step}/${e.steps} loss ${e.row.loss.toFixed(3)} ${fmt(e.row.tokens_per_s)} tok/s`)})
    this.progressDone(`small model: val loss ${s.val!.loss.toFixed(4)} (${s.val!.bits_per_byte.toFixed(3)} bits/byte)`)

    const grown = path.join(out, 'grown')
    this.note(`3/5 growing it to 4 layers × 128 with LiGO (${flags['grow-steps']} operator steps) → ${grown}`)
    const g = await grow({
      source: loadCheckpoint(small), target: {width: 128, depth: 4}, method: 'ligo', out: grown, force: true, dataDir: data,
      ligo: {steps: flags['grow-steps'], warmup: 3, batch: 16, seq: 128}, evalBatches: 20,
      onEvent: (e) => e.kind === 'step' && this.progress(`operator step ${e.step}/${e.steps} loss ${e.loss.toFixed(3)}`),
    })
    this.progressDone(`grown model: val loss ${g.val_init?.toFixed(4)} at init → ${g.val_final?.toFixed(4)} after LiGO`)

    const trained = path.join(out, 'grown-trained')
    this.note(`4/5 training the grown model for ${flags['train-steps']} steps → ${trained}`)
    const gcfg = resolveRunConfig({model: {...g.large}, train: {...cfg.train, steps: flags['train-steps'], warmup: 20}})
    const t = await train({config: gcfg, dataDir: data, outDir: trained, force: true, from: loadCheckpoint(grown), onEvent: (e) => e.kind === 'step' && this.progress(`step ${e.row.step}/${e.steps} loss ${e.row.loss.toFixed(3)} ${fmt(e.row.tokens_per_s)} tok/s`)})
    this.progressDone(`grown model after training: val loss ${t.val!.loss.toFixed(4)} (${t.val!.bits_per_byte.toFixed(3)} bits/byte)`)

    this.note('5/5 sampling')
    const ck = loadCheckpoint(trained)
    const tok = tokenizerFromJSON(ck.meta.tokenizer)
    const prompt = 'The jury said'
    const ids = generate(ck.meta.model, ck.schema, ck.weights, Array.from(tok.encode(prompt)), {tokens: 120, temperature: 0.8, topK: 40, seed: 0})
    const sample = prompt + tok.decode(ids)
    this.log(sample)
    const elapsed = (performance.now() - t0) / 1000
    this.note(`demo finished in ${elapsed.toFixed(0)} s; try: ligo info ${trained}`)
    return {
      out,
      small: {val_loss: s.val!.loss, params: g.params.small},
      grown: {val_init: g.val_init, val_after_ligo: g.val_final, val_final: t.val!.loss, params: g.params.large},
      sample,
      elapsed_s: elapsed,
    }
  }
}
