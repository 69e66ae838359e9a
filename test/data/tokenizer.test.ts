import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {ByteTokenizer, tokenizerFromJSON} from '../../src/data/tokenizer.js'

const tok = new ByteTokenizer()

describe('ByteTokenizer', () => {
  it('encodes to UTF-8 bytes', () => {
    expect(Array.from(tok.encode('Hi'))).toEqual([72, 105])
    expect(Array.from(tok.encode('é'))).toEqual([0xc3, 0xa9])
    expect(Array.from(tok.encode('€'))).toEqual([0xe2, 0x82, 0xac])
    expect(Array.from(tok.encode('😀'))).toEqual([0xf0, 0x9f, 0x98, 0x80])
    expect(tok.encode('').length).toBe(0)
    expect(tok.vocabSize).toBe(256)
  })

  it('round-trips ASCII, multi-byte scripts and emoji', () => {
    for (const s of ['plain ascii\n\ttabs', 'héllo wörld — “quotes”', '日本語のテキスト', 'Ελληνικά', '👋🏽 family: 👨‍👩‍👧 flags: 🇳🇿', '\u0000nul']) {
      const ids = tok.encode(s)
      for (const id of ids) expect(id >= 0 && id < 256).toBe(true)
      expect(tok.decode(ids)).toBe(s)
      expect(tok.decode(Array.from(ids))).toBe(s)
    }
  })

  it('keeps a leading BOM', () => {
    expect(tok.decode(tok.encode('\uFEFFx'))).toBe('\uFEFFx')
  })

  it('decodes invalid or partial UTF-8 and out-of-range ids to U+FFFD without throwing', () => {
    expect(tok.decode([0xff, 0x41])).toBe('\uFFFDA')
    expect(tok.decode([0x41, 0xe2, 0x82])).toBe('A\uFFFD') // truncated 3-byte sequence
    expect(tok.decode([0xc0, 0x80])).toBe('\uFFFD\uFFFD') // overlong NUL
    expect(tok.decode([300, 0x42, -1, 1.5])).toBe('\uFFFDB\uFFFD\uFFFD')
    expect(tok.decode(tok.encode('\uD800'))).toBe('\uFFFD') // a lone surrogate cannot be encoded
  })

  it('streams: a character split across pushes comes out whole', () => {
    const d = tok.streamDecoder()
    const bytes = Array.from(tok.encode('a€😀'))
    const pieces = bytes.map((b) => d.push([b]))
    expect(pieces).toEqual(['a', '', '', '€', '', '', '', '😀'])
    expect(d.flush()).toBe('')
    expect(d.push([0xe2, 0x82])).toBe('')
    expect(d.flush()).toBe('\uFFFD')
  })
})

describe('tokenizerFromJSON', () => {
  it('restores the byte tokenizer from toJSON()', () => {
    const json = JSON.parse(JSON.stringify(tok.toJSON()))
    expect(json).toEqual({kind: 'byte', vocabSize: 256})
    const t = tokenizerFromJSON(json)
    expect(t).toBeInstanceOf(ByteTokenizer)
    expect(t.name).toBe('byte')
    expect(Array.from(t.documentSeparator)).toEqual([10, 10])
  })

  it('rejects unknown kinds and malformed objects with an InputError', () => {
    expect(() => tokenizerFromJSON({kind: 'sentencepiece'})).toThrow(/unknown tokenizer kind 'sentencepiece': expected one of byte, hf-bpe/)
    expect(() => tokenizerFromJSON({kind: 'sentencepiece'})).toThrow(InputError)
    expect(() => tokenizerFromJSON(null)).toThrow(InputError)
    expect(() => tokenizerFromJSON([])).toThrow(InputError)
    expect(() => tokenizerFromJSON({})).toThrow(/string field 'kind'/)
    expect(() => tokenizerFromJSON({kind: 'byte', vocabSize: 300})).toThrow(/expected 256/)
  })
})
