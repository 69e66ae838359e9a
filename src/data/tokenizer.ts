/**
 * Tokenizers. For now one: `ByteTokenizer`, the UTF-8 bytes of the text (vocab 256).
 *
 * The interface is shaped so a byte-level BPE read from a Hugging Face `tokenizer.json` can be added as
 * another `kind`: it encodes to ids, decodes ids to bytes and then to text (streaming, so sampling can print
 * token by token), names the ids that separate documents, and serialises to a small JSON description that
 * `tokenizerFromJSON` turns back into a tokenizer (stored in data/meta.json and in checkpoints).
 */
import {InputError} from '../errors.js'
import {HF_BPE_KIND, hfTokenizerFromJSON} from './hf-tokenizer.js'

/** The serialised form: `kind` picks the implementation; the other fields belong to that kind. */
export interface TokenizerJSON {
  kind: string
  [key: string]: unknown
}

/** Decodes a stream of ids to text incrementally; a character split across ids waits for its last byte. */
export interface StreamDecoder {
  /** Text completed by these ids (possibly ''). */
  push(ids: ArrayLike<number>): string
  /** Whatever is left, with an incomplete character as U+FFFD. The decoder can be reused afterwards. */
  flush(): string
}

export interface Tokenizer {
  /** A short name for reports, e.g. 'byte'. */
  readonly name: string
  /** Ids are integers in [0, vocabSize). */
  readonly vocabSize: number
  /**
   * The ids appended after each document when a corpus is concatenated into one token stream
   * (e.g. [eot] for GPT-2 BPE). The byte tokenizer uses a blank line, "\n\n".
   */
  readonly documentSeparator: readonly number[]
  /** The id that marks end-of-text, if the tokenizer has one (sampling may stop there). */
  readonly eotId: number | null
  encode(text: string): number[] | Uint32Array
  /** Never throws: invalid or partial UTF-8 and out-of-range ids become U+FFFD. */
  decode(ids: ArrayLike<number>): string
  /** A fresh incremental decoder for printing samples as they are generated. */
  streamDecoder(): StreamDecoder
  toJSON(): TokenizerJSON
}

/** The UTF-8 bytes of the text: id = byte value. */
export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte'
  readonly vocabSize = 256
  readonly documentSeparator: readonly number[] = Object.freeze([0x0a, 0x0a])
  readonly eotId = null

  encode(text: string): Uint32Array {
    return Uint32Array.from(new TextEncoder().encode(text))
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', {fatal: false, ignoreBOM: true}).decode(idsToBytes(ids))
  }

  streamDecoder(): StreamDecoder {
    const decoder = new TextDecoder('utf-8', {fatal: false, ignoreBOM: true})
    return {
      push: (ids) => decoder.decode(idsToBytes(ids), {stream: true}),
      flush: () => decoder.decode(),
    }
  }

  toJSON(): TokenizerJSON {
    return {kind: 'byte', vocabSize: 256}
  }
}

/** The kinds `tokenizerFromJSON` knows. */
export const TOKENIZER_KINDS: readonly string[] = ['byte', HF_BPE_KIND]

/** Restores a tokenizer from its `toJSON()` form (e.g. the `tokenizer` field of data/meta.json). */
export function tokenizerFromJSON(obj: unknown, source = 'tokenizer'): Tokenizer {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new InputError(`${source}: expected an object with a string field 'kind', found ${describe(obj)}`)
  }
  const kind = (obj as {kind?: unknown}).kind
  if (typeof kind !== 'string') {
    throw new InputError(`${source}: expected a string field 'kind' (one of ${TOKENIZER_KINDS.join(', ')}), found ${describe(kind)}`)
  }
  switch (kind) {
    case 'byte': {
      const v = (obj as {vocabSize?: unknown}).vocabSize
      if (v !== undefined && v !== 256) throw new InputError(`${source}: byte tokenizer with vocabSize ${describe(v)}: expected 256`)
      return new ByteTokenizer()
    }
    case HF_BPE_KIND:
      return hfTokenizerFromJSON(obj as Record<string, unknown>, source)
    case 'none': {
      // A model imported without a usable tokenizer (see src/model/hf.ts): say why instead of "unknown kind".
      const reason = (obj as {reason?: unknown}).reason
      throw new InputError(`${source}: this model has no tokenizer ligo can use${typeof reason === 'string' ? `: ${reason}` : ''}`)
    }
    default:
      throw new InputError(`${source}: unknown tokenizer kind '${kind}': expected one of ${TOKENIZER_KINDS.join(', ')}`)
  }
}

/** Ids to bytes; anything outside [0, 255] becomes 0xFF, which never occurs in UTF-8 and so decodes to U+FFFD. */
function idsToBytes(ids: ArrayLike<number>): Uint8Array {
  if (ids instanceof Uint8Array) return ids
  const bytes = new Uint8Array(ids.length)
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]
    bytes[i] = Number.isInteger(v) && v >= 0 && v <= 255 ? v : 0xff
  }
  return bytes
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}
