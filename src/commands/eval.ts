import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {checkVocab, loadDataDir} from '../data/prepare.js'
import {InputError} from '../errors.js'
import {type EvalResult, evaluate} from '../train/eval.js'

export interface EvalOutput extends EvalResult {
  checkpoint: string
  data: string
  /** Loss of the best context-free predictor (the train split's unigram entropy), for comparison. */
  unigram_loss: number
}

export default class Eval extends BaseCommand {
  static summary = 'Validation loss, perplexity and bits per byte of a checkpoint on a prepared data directory.'
  static examples = [
    '<%= config.bin %> <%= command.id %> runs/tiny --data data/brown',
    '<%= config.bin %> <%= command.id %> runs/tiny --data data/brown --batches 0 --json   # the whole validation split',
  ]

  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {
    data: Flags.string({char: 'd', description: 'prepared data directory', required: true}),
    batch: Flags.integer({min: 1, description: 'sequences per batch', default: 16}),
    seq: Flags.integer({min: 1, description: 'tokens per sequence (default: the model context)'}),
    batches: Flags.integer({min: 0, description: 'validation batches to use (0 = the whole split)', default: 0}),
  }

  async run(): Promise<EvalOutput> {
    const {args, flags} = await this.parse(Eval)
    await this.useBackend(flags.backend)
    const ck = loadCheckpoint(args.checkpoint, {onProgress: this.ioProgress()})
    const data = loadDataDir(flags.data)
    checkVocab(data, ck.meta.model.vocab_size)
    const seq = flags.seq ?? ck.meta.train?.seq ?? ck.meta.model.n_positions
    if (seq > ck.meta.model.n_positions) throw new InputError(`--seq ${seq}: the model's context is ${ck.meta.model.n_positions}`)
    let r
    try {
      r = evaluate(ck.meta.model, ck.schema, ck.weights, data.val, {batch: flags.batch, seq, maxBatches: flags.batches, bytesPerToken: data.meta.bytesPerToken})
    } finally {
      data.close()
    }
    this.log(`val loss ${r.loss.toFixed(4)} nats/token  perplexity ${r.perplexity.toFixed(3)}  ${r.bits_per_byte.toFixed(4)} bits/byte  (${r.tokens} tokens; unigram baseline ${data.meta.unigramEntropy.toFixed(4)})`)
    return {...r, checkpoint: ck.dir, data: flags.data, unigram_loss: data.meta.unigramEntropy}
  }
}
