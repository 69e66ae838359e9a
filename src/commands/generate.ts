import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {nonNegative} from '../cli/config-flags.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {tokenizerFromJSON} from '../data/tokenizer.js'
import {InputError} from '../errors.js'
import {generate} from '../model/generate.js'

export interface GenerateOutput {
  prompt: string
  text: string
  tokens: number[]
}

export default class Generate extends BaseCommand {
  static summary = 'Sample text from a checkpoint.'
  static examples = [
    '<%= config.bin %> <%= command.id %> runs/tiny --prompt "The jury said" --tokens 80',
    '<%= config.bin %> <%= command.id %> runs/tiny --prompt "It was" --temperature 0   # greedy',
  ]

  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {
    prompt: Flags.string({char: 'p', description: 'text to continue', default: ''}),
    tokens: Flags.integer({char: 'n', min: 1, max: 100_000, description: 'tokens to generate', default: 80}),
    temperature: Flags.custom<number>({
      parse: async (s) => nonNegative('--temperature', s),
      description: 'sampling temperature (0 = greedy)',
      default: 0.8,
    })(),
    'top-k': Flags.integer({min: 0, description: 'sample among the k most likely tokens (0 = all)', default: 40}),
    seed: Flags.integer({min: 0, description: 'sampling seed', default: 0}),
  }

  async run(): Promise<GenerateOutput> {
    const {args, flags} = await this.parse(Generate)
    await this.useBackend(flags.backend)
    const ck = loadCheckpoint(args.checkpoint, {onProgress: this.ioProgress()})
    const tok = tokenizerFromJSON(ck.meta.tokenizer, `${ck.dir}/config.json`)
    const prompt = Array.from(tok.encode(flags.prompt))
    if (prompt.length === 0) prompt.push(...Array.from(tok.encode('\n')))
    const streaming = !this.jsonEnabled() && process.stdout.isTTY
    const dec = tok.streamDecoder()
    if (streaming) process.stdout.write(flags.prompt)
    const ids = generate(ck.meta.model, ck.schema, ck.weights, prompt, {
      tokens: flags.tokens,
      temperature: flags.temperature,
      topK: flags['top-k'],
      seed: flags.seed,
      onToken: streaming ? (id) => process.stdout.write(dec.push([id])) : undefined,
    })
    const text = tok.decode(ids)
    if (streaming) process.stdout.write(dec.flush() + '\n')
    else this.log(flags.prompt + text)
    return {prompt: flags.prompt, text, tokens: ids}
  }
}
