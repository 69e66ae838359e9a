import {Args, Flags} from '@oclif/core'

import {BaseCommand, duration, fmt} from '../cli/base.js'
import {etaSeconds} from '../cli/progress.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {checkVocab, loadDataDir} from '../data/prepare.js'
import {InputError} from '../errors.js'
import {type EvalResult, evalSetOf, evaluate} from '../train/eval.js'

export interface EvalOutput extends EvalResult {
  checkpoint: string
  data: string
  /** The evaluation set: batches of `batch` windows of `seq` tokens from the front of the validation split (0 batches = all). */
  eval_set: {batch: number; seq: number; batches: number}
  /** Loss of the best context-free predictor (the train split's unigram entropy), for comparison. */
  unigram_loss: number
}

export default class Eval extends BaseCommand {
  static summary = 'Validation loss, perplexity and bits per byte of a checkpoint on a prepared data directory.'
  static description = `By default the checkpoint's own evaluation set: the first train.eval_batches × train.batch windows of train.seq tokens of the validation split (20 × 16 windows of the context for a checkpoint without training settings) — the set \`ligo train\` and \`ligo grow\` report on, so the three commands print the same loss for the same weights. --batches 0 scores the whole split. Every figure is printed with the number of tokens it covers.`

  static examples = [
    '<%= config.bin %> <%= command.id %> runs/tiny --data data/brown',
    '<%= config.bin %> <%= command.id %> runs/tiny --data data/brown --batches 0 --json   # the whole validation split',
  ]

  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {
    data: Flags.string({char: 'd', description: 'prepared data directory', required: true}),
    batch: Flags.integer({min: 1, description: "sequences per batch (default: the checkpoint's train.batch, else 16)"}),
    seq: Flags.integer({min: 1, description: "tokens per sequence (default: the checkpoint's train.seq, else the context)"}),
    batches: Flags.integer({min: 0, description: "validation batches (default: the checkpoint's train.eval_batches, else 20; 0 = the whole split)"}),
  }

  async run(): Promise<EvalOutput> {
    const {args, flags} = await this.parse(Eval)
    await this.useBackend(flags.backend)
    const ck = loadCheckpoint(args.checkpoint, {onProgress: this.ioProgress()})
    const data = loadDataDir(flags.data)
    checkVocab(data, ck.meta.model.vocab_size)
    if (flags.seq !== undefined && flags.seq > ck.meta.model.n_positions) throw new InputError(`--seq ${flags.seq}: the model's context is ${ck.meta.model.n_positions}`)
    const set = evalSetOf(ck.meta.model, ck.meta.train, {batch: flags.batch, seq: flags.seq, batches: flags.batches})
    const t0 = performance.now()
    let r
    try {
      r = evaluate(ck.meta.model, ck.schema, ck.weights, data.val, {
        ...set, bytesPerToken: data.meta.bytesPerToken,
        onBatch: (done, total) => this.progress(`eval batch ${done}/${total}  ETA ${duration(etaSeconds((performance.now() - t0) / 1000, {done, total}) ?? Number.NaN)}`, {done, total}),
      })
    } finally {
      data.close()
      this.progressDone()
    }
    this.log(`val loss ${r.loss.toFixed(4)} nats/token  perplexity ${r.perplexity.toFixed(3)}  ${r.bits_per_byte.toFixed(4)} bits/byte  (${fmt(r.tokens)} tokens: ${r.batches} batches of ${set.batch} × ${set.seq}; unigram baseline ${data.meta.unigramEntropy.toFixed(4)})`)
    return {...r, checkpoint: ck.dir, data: flags.data, eval_set: {batch: set.batch, seq: set.seq, batches: set.maxBatches}, unigram_loss: data.meta.unigramEntropy}
  }
}
