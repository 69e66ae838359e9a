/**
 * Byte-level BPE tokenizers read from a Hugging Face `tokenizer.json` (GPT-2 and the models that reuse its scheme:
 * RoBERTa, GPT-NeoX, Pythia, OPT...). A small own implementation instead of @huggingface/tokenizers: the scheme is
 * three parts, each a few lines (openai/gpt-2 encoder.py; HF tokenizers' pre_tokenizers/byte_level.rs):
 *
 *   1. pre-tokenize: split the text with GPT-2's regex ('s|'t|… | ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+),
 *      or the `Split` regex of a Sequence[Split, ByteLevel] pre-tokenizer when JavaScript can compile it;
 *   2. map each piece's UTF-8 bytes to printable characters (bytes_to_unicode: the 188 printable Latin-1 bytes map
 *      to themselves, the other 68 to U+0100…);
 *   3. BPE: repeatedly merge the adjacent pair with the lowest merge rank (all its occurrences, left to right) until
 *      no pair has a rank; each resulting symbol is a vocabulary entry.
 *
 * Added tokens (`added_tokens`, e.g. <|endoftext|>) are cut out of the text first, exactly as written, and map to
 * their ids; `lstrip`/`rstrip`/`single_word` are ignored. Normalizers: none, or the Unicode forms (NFC, NFKC,
 * NFD, NFKD). The post-processor is ignored: `encode` never adds special tokens. What is refused, with the field
 * named: other models (WordPiece, Unigram, WordLevel), BPE without the byte alphabet (SentencePiece-style, byte
 * fallback), dropout, subword prefixes/suffixes, other normalizers and pre-tokenizers, merges whose parts are not
 * in the vocabulary.
 *
 * The serialised form (`toJSON`) embeds the whole tokenizer.json, so checkpoints and data/meta.json stay
 * self-contained: {kind: 'hf-bpe', vocabSize, tokenizer: {...the file's JSON...}}.
 */
import * as fs from 'node:fs'

import {InputError, preview} from '../errors.js'
import type {StreamDecoder, Tokenizer, TokenizerJSON} from './tokenizer.js'

export const HF_BPE_KIND = 'hf-bpe'

/** GPT-2's pre-tokenizer regex (also HF ByteLevel's with use_regex). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

/** The names an end-of-text token goes by. */
const EOT_NAMES = ['<|endoftext|>', '<|end_of_text|>', '</s>', '<eos>']
const UNICODE_FORMS = new Set(['NFC', 'NFKC', 'NFD', 'NFKD'])
const CACHE_LIMIT = 100_000

/** GPT-2's bytes_to_unicode: byte → printable character, and its inverse. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  const out: string[] = []
  let n = 0
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + n++))
  return out
})()
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]))

interface AddedToken {
  id: number
  content: string
  special: boolean
}

export class HfBpeTokenizer implements Tokenizer {
  readonly name = HF_BPE_KIND
  readonly vocabSize: number
  readonly documentSeparator: readonly number[]
  readonly eotId: number | null
  private readonly vocab: Map<string, number>
  private readonly ranks = new Map<string, number>()
  private readonly added: AddedToken[]
  private readonly addedById = new Map<number, AddedToken>()
  private readonly addedRe: RegExp | null
  private readonly split: RegExp
  private readonly normalize: string[]
  private readonly addPrefixSpace: boolean
  private readonly ignoreMerges: boolean
  private readonly cache = new Map<string, number[]>()
  private idBytes: (Uint8Array | undefined)[] | undefined

  /** `json` is a parsed tokenizer.json; `source` names it in errors. */
  constructor(private readonly json: Record<string, unknown>, source = 'tokenizer.json') {
    const bad = (field: string, found: unknown, expected: string) =>
      new InputError(`${source}: ${field} ${describe(found)} is not supported: expected ${expected} (only byte-level BPE tokenizers, GPT-2 style, are)`)
    const model = obj(json.model)
    if (!model) throw bad('model', json.model, 'an object')
    const type = model.type ?? 'BPE'
    if (type !== 'BPE') throw bad('model.type', type, "'BPE'")
    if (model.dropout !== undefined && model.dropout !== null) throw bad('model.dropout', model.dropout, 'null')
    if (model.byte_fallback === true) throw bad('model.byte_fallback', true, 'false')
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'])
      if (model[k] !== undefined && model[k] !== null && model[k] !== '') throw bad(`model.${k}`, model[k], 'null')
    this.ignoreMerges = model.ignore_merges === true

    // Vocabulary: every byte must have its character, or this is not a byte-level BPE.
    const vocabObj = obj(model.vocab)
    if (!vocabObj) throw bad('model.vocab', model.vocab, 'an object of token → id')
    this.vocab = new Map()
    let maxId = -1
    for (const [tok, id] of Object.entries(vocabObj)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw bad(`model.vocab[${JSON.stringify(tok)}]`, id, 'a non-negative integer id')
      this.vocab.set(tok, id as number)
      maxId = Math.max(maxId, id as number)
    }
    for (let b = 0; b < 256; b++) {
      if (!this.vocab.has(BYTE_TO_CHAR[b]))
        throw new InputError(`${source}: model.vocab has no token for byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(BYTE_TO_CHAR[b])}): not a byte-level BPE (only byte-level BPE tokenizers, GPT-2 style, are supported)`)
    }

    // Merges: "a b" strings (older files) or [a, b] pairs (tokenizers ≥ 0.20).
    if (!Array.isArray(model.merges)) throw bad('model.merges', model.merges, 'an array')
    model.merges.forEach((m: unknown, rank: number) => {
      const pair = typeof m === 'string' ? splitMerge(m) : Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string') ? (m as [string, string]) : undefined
      if (!pair) throw bad(`model.merges[${rank}]`, m, '"a b" or ["a", "b"]')
      const [a, b] = pair
      for (const t of [a, b, a + b]) if (!this.vocab.has(t)) throw bad(`model.merges[${rank}]`, m, `tokens in model.vocab (${JSON.stringify(t)} is not)`)
      const key = a + ' ' + b
      if (!this.ranks.has(key)) this.ranks.set(key, rank)
    })

    // Added tokens, matched in the raw text, longest first.
    this.added = []
    for (const [i, t] of (Array.isArray(json.added_tokens) ? json.added_tokens : []).entries()) {
      const a = obj(t)
      if (!a || !Number.isInteger(a.id) || typeof a.content !== 'string' || a.content === '') throw bad(`added_tokens[${i}]`, t, '{id, content, special}')
      const tok = {id: a.id as number, content: a.content, special: a.special === true}
      this.added.push(tok)
      this.addedById.set(tok.id, tok)
      maxId = Math.max(maxId, tok.id)
    }
    const longestFirst = [...this.added].sort((x, y) => y.content.length - x.content.length)
    this.addedRe = longestFirst.length > 0 ? new RegExp(longestFirst.map((t) => escapeRegExp(t.content)).join('|'), 'g') : null

    this.normalize = normalizers(json.normalizer, bad)
    const pre = preTokenizer(json.pre_tokenizer, bad)
    this.split = pre.split
    this.addPrefixSpace = pre.addPrefixSpace
    const dec = obj(json.decoder)
    if (json.decoder !== null && json.decoder !== undefined && dec?.type !== 'ByteLevel') throw bad('decoder.type', dec?.type ?? json.decoder, "'ByteLevel' or null")

    this.vocabSize = maxId + 1
    const eot = EOT_NAMES.map((n) => this.added.find((t) => t.content === n) ?? (this.vocab.has(n) ? {id: this.vocab.get(n)!} : undefined)).find((t) => t)
    this.eotId = eot ? eot.id : null
    this.documentSeparator = Object.freeze(this.eotId !== null ? [this.eotId] : Array.from(this.encode('\n\n')))
  }

  /** The id of a token (a vocabulary entry or an added token), or undefined. */
  tokenId(content: string): number | undefined {
    return this.added.find((t) => t.content === content)?.id ?? this.vocab.get(content)
  }

  encode(text: string): number[] {
    const ids: number[] = []
    if (!this.addedRe) {
      this.encodeSegment(text, ids)
      return ids
    }
    let at = 0
    for (const m of text.matchAll(this.addedRe)) {
      if (m.index! > at) this.encodeSegment(text.slice(at, m.index), ids)
      ids.push(this.added.find((t) => t.content === m[0])!.id)
      at = m.index! + m[0].length
    }
    if (at < text.length) this.encodeSegment(text.slice(at), ids)
    return ids
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', {fatal: false, ignoreBOM: true}).decode(this.bytesOf(ids))
  }

  streamDecoder(): StreamDecoder {
    const decoder = new TextDecoder('utf-8', {fatal: false, ignoreBOM: true})
    return {
      push: (ids) => decoder.decode(this.bytesOf(ids), {stream: true}),
      flush: () => decoder.decode(),
    }
  }

  toJSON(): TokenizerJSON {
    return {kind: HF_BPE_KIND, vocabSize: this.vocabSize, tokenizer: this.json}
  }

  /** The tokenizer.json this tokenizer was read from. */
  tokenizerJson(): Record<string, unknown> {
    return this.json
  }

  private encodeSegment(text: string, out: number[]): void {
    for (const form of this.normalize) text = text.normalize(form)
    if (this.addPrefixSpace && !text.startsWith(' ')) text = ' ' + text
    const enc = new TextEncoder()
    for (const piece of splitIsolated(text, this.split)) {
      let word = ''
      for (const b of enc.encode(piece)) word += BYTE_TO_CHAR[b]
      for (const id of this.bpe(word)) out.push(id)
    }
  }

  /** BPE of one pre-token (already in byte characters) → ids. */
  private bpe(word: string): number[] {
    const hit = this.cache.get(word)
    if (hit) return hit
    let ids: number[]
    const whole = this.vocab.get(word)
    if (this.ignoreMerges && whole !== undefined) ids = [whole]
    else {
      let parts = Array.from(word)
      while (parts.length > 1) {
        let best = -1
        let bestRank = Infinity
        for (let i = 0; i < parts.length - 1; i++) {
          const r = this.ranks.get(parts[i] + ' ' + parts[i + 1])
          if (r !== undefined && r < bestRank) [best, bestRank] = [i, r]
        }
        if (best < 0) break
        const [a, b] = [parts[best], parts[best + 1]]
        const merged: string[] = []
        for (let i = 0; i < parts.length; i++) {
          if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
            merged.push(a + b)
            i++
          } else merged.push(parts[i])
        }
        parts = merged
      }
      ids = parts.map((p) => this.vocab.get(p)!) // every part is a vocab entry: bytes and merge results are checked
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
    this.cache.set(word, ids)
    return ids
  }

  private bytesOf(ids: ArrayLike<number>): Uint8Array {
    const table = (this.idBytes ??= this.buildIdBytes())
    const chunks: Uint8Array[] = []
    let n = 0
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      const b = Number.isInteger(id) && id >= 0 && id < table.length ? table[id] : undefined
      const bytes = b ?? INVALID
      chunks.push(bytes)
      n += bytes.length
    }
    const out = new Uint8Array(n)
    let at = 0
    for (const c of chunks) {
      out.set(c, at)
      at += c.length
    }
    return out
  }

  private buildIdBytes(): (Uint8Array | undefined)[] {
    const table: (Uint8Array | undefined)[] = new Array(this.vocabSize)
    const enc = new TextEncoder()
    for (const [tok, id] of this.vocab) {
      const bytes: number[] = []
      for (const ch of tok) {
        const b = CHAR_TO_BYTE.get(ch)
        if (b !== undefined) bytes.push(b)
        else bytes.push(...enc.encode(ch))
      }
      table[id] = Uint8Array.from(bytes)
    }
    for (const t of this.added) table[t.id] = enc.encode(t.content)
    return table
  }
}

/** An id outside the vocabulary decodes to U+FFFD (0xFF never occurs in UTF-8). */
const INVALID = Uint8Array.of(0xff)

/** Reads a tokenizer.json file. */
export function readHfTokenizer(file: string): HfBpeTokenizer {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new InputError(`${file}: cannot read tokenizer: ${(error as Error).message}`)
  }
  const o = obj(raw)
  if (!o) throw new InputError(`${file}: expected a JSON object (a Hugging Face tokenizer.json)`)
  return new HfBpeTokenizer(o, file)
}

/** Restores a tokenizer from its `toJSON()` form ({kind: 'hf-bpe', vocabSize, tokenizer}). */
export function hfTokenizerFromJSON(o: Record<string, unknown>, source = 'tokenizer'): HfBpeTokenizer {
  const json = obj(o.tokenizer)
  if (!json) throw new InputError(`${source}: hf-bpe tokenizer without its 'tokenizer' object (the embedded tokenizer.json)`)
  const tok = new HfBpeTokenizer(json, `${source}: tokenizer`)
  if (o.vocabSize !== undefined && o.vocabSize !== tok.vocabSize)
    throw new InputError(`${source}: hf-bpe tokenizer with vocabSize ${describe(o.vocabSize)}, but its tokenizer.json has ${tok.vocabSize} ids`)
  return tok
}

// ---------------------------------------------------------------------------------------------------------

type Bad = (field: string, found: unknown, expected: string) => InputError

function normalizers(n: unknown, bad: Bad): string[] {
  if (n === null || n === undefined) return []
  const o = obj(n)
  if (o?.type === 'Sequence' && Array.isArray(o.normalizers)) return o.normalizers.flatMap((x: unknown) => normalizers(x, bad))
  if (typeof o?.type === 'string' && UNICODE_FORMS.has(o.type)) return [o.type]
  throw bad('normalizer', o?.type ?? n, 'null or a Unicode normal form (NFC, NFKC, NFD, NFKD)')
}

function preTokenizer(p: unknown, bad: Bad): {split: RegExp; addPrefixSpace: boolean} {
  const o = obj(p)
  if (o?.type === 'ByteLevel') {
    if (o.use_regex === false) throw bad('pre_tokenizer.use_regex', false, 'true for a lone ByteLevel pre-tokenizer')
    return {split: GPT2_SPLIT, addPrefixSpace: o.add_prefix_space === true}
  }
  if (o?.type === 'Sequence' && Array.isArray(o.pretokenizers) && o.pretokenizers.length === 2) {
    const [s, b] = o.pretokenizers.map(obj)
    const pattern = obj(s?.pattern)?.Regex ?? obj(s?.pattern)?.String
    if (s?.type === 'Split' && typeof pattern === 'string' && b?.type === 'ByteLevel' && b.use_regex === false) {
      if (s.behavior !== undefined && s.behavior !== 'Isolated') throw bad('pre_tokenizer.pretokenizers[0].behavior', s.behavior, "'Isolated'")
      if (s.invert === true) throw bad('pre_tokenizer.pretokenizers[0].invert', true, 'false')
      let split: RegExp
      try {
        split = new RegExp(typeof obj(s.pattern)?.Regex === 'string' ? pattern : escapeRegExp(pattern), 'gu')
      } catch (error) {
        throw bad('pre_tokenizer.pretokenizers[0].pattern', pattern, `a regex JavaScript can compile (${(error as Error).message})`)
      }
      return {split, addPrefixSpace: b.add_prefix_space === true}
    }
  }
  throw bad('pre_tokenizer', o?.type ?? p, "ByteLevel, or Sequence[Split(regex, 'Isolated'), ByteLevel(use_regex: false)]")
}

/** The pieces of `text` under an 'Isolated' split: every match is a piece, and so is every gap between matches. */
function splitIsolated(text: string, re: RegExp): string[] {
  const out: string[] = []
  let at = 0
  for (const m of text.matchAll(re)) {
    if (m[0] === '') continue
    if (m.index! > at) out.push(text.slice(at, m.index))
    out.push(m[0])
    at = m.index! + m[0].length
  }
  if (at < text.length) out.push(text.slice(at))
  return out
}

function splitMerge(m: string): [string, string] | undefined {
  const i = m.indexOf(' ')
  if (i <= 0 || i === m.length - 1 || m.indexOf(' ', i + 1) >= 0) return undefined
  return [m.slice(0, i), m.slice(i + 1)]
}

function obj(v: unknown): Record<string, any> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, any>) : undefined
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

function describe(v: unknown): string {
  return preview(v, 60)
}
