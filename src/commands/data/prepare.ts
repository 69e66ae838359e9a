import * as fs from 'node:fs'
import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../../cli/base.js'
import {InputError} from '../../errors.js'
import {readHfTokenizer} from '../../data/hf-tokenizer.js'
import {type DataSource, type PrepareResult, prepareData} from '../../data/prepare.js'

export default class DataPrepare extends BaseCommand {
  static summary = 'Tokenize a corpus into train/validation token files (bytes, or a Hugging Face byte-level BPE tokenizer).'
  static description = `Sources: the embedded Brown corpus (--corpus brown, POS tags stripped), UTF-8 text files or directories of .txt files (positional paths), or JSONL with a text field (--jsonl FILE --field text).
Tokens are bytes (vocabulary 256) unless --tokenizer names a Hugging Face tokenizer.json (byte-level BPE, e.g. GPT-2's) or a model directory holding one (e.g. one made by ligo export or downloaded from the Hub), so the data matches an imported model.
The split is by document, deterministic for a given --seed. Writes OUT/train.bin, OUT/val.bin and OUT/meta.json (token counts, hashes, unigram entropy).`

  static examples = [
    '<%= config.bin %> <%= command.id %> --corpus brown -o data/brown',
    '<%= config.bin %> <%= command.id %> notes/ book.txt -o data/mine --val-fraction 0.1',
    '<%= config.bin %> <%= command.id %> --jsonl corpus.jsonl --field content -o data/jsonl',
    '<%= config.bin %> <%= command.id %> --corpus brown --tokenizer hf/gpt2 -o data/brown-gpt2',
  ]

  static strict = false
  static args = {paths: Args.string({description: 'text files or directories (for a text corpus)', required: false})}
  static flags = {
    corpus: Flags.option({options: ['brown'] as const, description: 'a built-in corpus'})(),
    jsonl: Flags.string({description: 'a JSONL file, one JSON object per line'}),
    field: Flags.string({description: 'the JSONL field holding the text', default: 'text'}),
    out: Flags.string({char: 'o', description: 'output directory', required: true}),
    'val-fraction': Flags.custom<number>({
      parse: async (s) => {
        const v = Number(s)
        if (!(v > 0 && v < 1)) throw new InputError(`--val-fraction ${s}: expected a number between 0 and 1, e.g. 0.05`)
        return v
      },
      description: 'fraction of documents held out for validation',
      default: 0.05,
    })(),
    seed: Flags.integer({min: 0, description: 'seed of the document split', default: 1337}),
    tokenizer: Flags.string({description: 'a Hugging Face tokenizer.json (byte-level BPE), or a model directory holding one; default: bytes'}),
    force: Flags.boolean({description: 'overwrite a non-empty output directory', default: false}),
  }

  async run(): Promise<PrepareResult> {
    const {argv, flags} = await this.parse(DataPrepare)
    const paths = argv as string[]
    const chosen = [flags.corpus ? 1 : 0, flags.jsonl ? 1 : 0, paths.length > 0 ? 1 : 0].reduce((a, b) => a + b, 0)
    if (chosen !== 1) throw new InputError('give exactly one source: --corpus brown, --jsonl FILE, or text file/directory paths')
    const source: DataSource = flags.corpus
      ? {kind: 'brown'}
      : flags.jsonl
        ? {kind: 'jsonl', path: flags.jsonl, field: flags.field}
        : {kind: 'text', paths}
    const tokenizer = flags.tokenizer ? readHfTokenizer(tokenizerFile(flags.tokenizer)) : undefined
    const result = await prepareData({
      source,
      tokenizer,
      out: flags.out,
      valFraction: flags['val-fraction'],
      seed: flags.seed,
      force: flags.force,
      onProgress: (p) => this.progress(`tokenizing: ${p.docs} documents, ${fmt(p.tokens)} tokens`),
    })
    this.progressDone()
    const {train, val} = result.meta.splits
    this.log(`${result.dir}: train ${train.tokens.toLocaleString('en-US')} tokens (${train.docs} docs), val ${val.tokens.toLocaleString('en-US')} tokens (${val.docs} docs); vocab ${result.meta.vocabSize}; unigram entropy ${result.meta.unigramEntropy.toFixed(4)} nats/token`)
    return result
  }
}

/** A tokenizer.json path, or a directory's tokenizer.json; a clear error when neither exists. */
function tokenizerFile(given: string): string {
  const file = fs.existsSync(given) && fs.statSync(given).isDirectory() ? path.join(given, 'tokenizer.json') : given
  if (!fs.existsSync(file)) throw new InputError(`--tokenizer ${given}: no such file — expected a Hugging Face tokenizer.json or a model directory holding one`)
  return file
}
