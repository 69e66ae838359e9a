/**
 * The byte-level BPE tokenizer read from a Hugging Face tokenizer.json: byte alphabet, GPT-2 pre-tokenizer, merges
 * by rank, added tokens; ids pinned against Hugging Face `tokenizers` 0.23 (the ids in CASES were produced by
 * `Tokenizer.from_file(...).encode(s).ids` on the tokenizer.json that `tinyTokenizer()` builds); refusals.
 */
import {describe, expect, it} from 'vitest'

import {BYTE_TO_CHAR, GPT2_SPLIT, HfBpeTokenizer} from '../../src/data/hf-tokenizer.js'
import {tokenizerFromJSON} from '../../src/data/tokenizer.js'
import {InputError} from '../../src/errors.js'
import {MERGES, tinyTokenizer} from './tiny-tokenizer.js'

/** Strings and the ids Hugging Face tokenizers 0.23.2 gives them with tinyTokenizer(). */
const CASES: [string, number[]][] = [
  ["Hello world", [72, 101, 257, 111, 259, 260, 108, 100]],
  ["hello world<|endoftext|>the end", [258, 111, 259, 260, 108, 100, 277, 116, 256, 32, 101, 110, 100]],
  ["  leading spaces", [32, 32, 108, 101, 97, 100, 264, 103, 267, 112, 97, 99, 101, 115]],
  ["tabs\tand\nnewlines\n\n\n", [116, 97, 98, 115, 9, 97, 110, 100, 10, 110, 101, 119, 108, 264, 101, 115, 272, 10]],
  ["it's they're we'll I'd don't", [105, 116, 39, 115, 261, 256, 121, 39, 268, 259, 101, 39, 257, 32, 73, 39, 100, 32, 100, 269, 39, 116]],
  ["numbers 12345 and 3.14", [110, 117, 109, 98, 266, 115, 32, 275, 51, 52, 53, 271, 32, 51, 46, 49, 52]],
  ["\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", [230, 151, 165, 230, 156, 172, 232, 170, 158, 276, 174, 227, 131, 134, 227, 130, 173, 227, 130, 185, 227, 131, 136]],
  ["\u00e9migr\u00e9 caf\u00e9", [195, 169, 109, 105, 103, 114, 195, 169, 32, 99, 97, 102, 195, 169]],
  ["\ud83d\udc4b\ud83c\udffd family: \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67", [240, 159, 145, 139, 240, 159, 143, 189, 32, 102, 97, 109, 105, 108, 121, 58, 32, 240, 159, 145, 168, 226, 128, 141, 240, 159, 145, 169, 226, 128, 141, 240, 159, 145, 167]],
  ["   ", [273, 32]],
  ["a\u00a0b", [97, 194, 160, 98]],
  ["x\u2028y", [120, 226, 128, 168, 121]],
  ["end with space ", [101, 110, 100, 259, 105, 116, 104, 267, 112, 97, 99, 101, 32]],
  ["multiple   spaces   here", [109, 117, 108, 116, 105, 112, 108, 101, 273, 267, 112, 97, 99, 101, 115, 273, 32, 256, 268]],
  ["'s at start", [39, 115, 265, 116, 267, 116, 97, 114, 116]],
  ["CamelCaseWord", [67, 97, 109, 101, 108, 67, 97, 115, 101, 87, 260, 100]],
  ["\u0000nul", [0, 110, 117, 108]],
  ["The tokenizer and the model", [84, 256, 261, 111, 107, 101, 110, 105, 122, 266, 271, 261, 256, 32, 109, 111, 100, 101, 108]],
  ["<|endoftext|>", [277]],
  ["a<|endoftext|><|endoftext|>b", [97, 277, 277, 98]],
  ["\u00dcn\u00efc\u00f6d\u00e9\r\nwindows", [195, 156, 110, 195, 175, 99, 195, 182, 100, 195, 169, 13, 10, 119, 264, 100, 111, 119, 115]],
  ["the theme there", [116, 256, 261, 256, 109, 101, 261, 256, 268]],
  ["1212 1 2 12", [275, 275, 32, 49, 32, 50, 32, 275]],
  ["    indented code:\n        return x", [273, 32, 32, 264, 100, 101, 110, 116, 101, 100, 32, 99, 111, 100, 101, 58, 10, 274, 273, 32, 32, 268, 116, 117, 114, 110, 32, 120]],
  ["\u3000ideographic space", [227, 128, 128, 105, 100, 101, 111, 103, 114, 97, 112, 104, 105, 99, 267, 112, 97, 99, 101]],
  ["\u01c5 titlecase", [199, 133, 261, 105, 116, 108, 101, 99, 97, 115, 101]],
  ["x  \n y", [120, 273, 10, 32, 121]],
]

describe('byte-level BPE from tokenizer.json', () => {
  const tok = new HfBpeTokenizer(tinyTokenizer())

  it("maps bytes to GPT-2's printable characters", () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256)
    expect(BYTE_TO_CHAR[0x41]).toBe('A')
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ')
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ')
    expect(BYTE_TO_CHAR[0xad]).toBe('Ń')
  })

  it("pre-tokenizes with GPT-2's regex", () => {
    const split = (s: string) => [...s.matchAll(GPT2_SPLIT)].map((m) => m[0])
    expect(split("Hello world's  end\n\n")).toEqual(['Hello', ' world', "'s", ' ', ' end', '\n\n'])
    expect(split('x = 3.14;  // ok')).toEqual(['x', ' =', ' 3', '.', '14', ';', ' ', ' //', ' ok'])
  })

  it('gives the ids Hugging Face tokenizers gives, with "a b" and [a, b] merges alike', () => {
    const pairs = new HfBpeTokenizer(tinyTokenizer({pairs: true}))
    for (const [s, ids] of CASES) {
      expect(tok.encode(s), JSON.stringify(s)).toEqual(ids)
      expect(pairs.encode(s), JSON.stringify(s)).toEqual(ids)
    }
    expect(tok.vocabSize).toBe(278)
    expect(tok.eotId).toBe(277)
    expect(tok.documentSeparator).toEqual([277])
  })

  it('accepts Sequence[Split(regex), ByteLevel] and add_prefix_space', () => {
    const seq = new HfBpeTokenizer(tinyTokenizer({pre: {type: 'Sequence', pretokenizers: [
      {type: 'Split', pattern: {Regex: GPT2_SPLIT.source}, behavior: 'Isolated', invert: false},
      {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false},
    ]}}))
    for (const [s, ids] of CASES) expect(seq.encode(s)).toEqual(ids)
    const prefixed = new HfBpeTokenizer(tinyTokenizer({pre: {type: 'ByteLevel', add_prefix_space: true, use_regex: true}}))
    expect(prefixed.encode('the hello')).toEqual(tok.encode(' the hello'))
    expect(prefixed.encode(' the')).toEqual(tok.encode(' the'))
  })

  it('uses a whole word from the vocabulary under ignore_merges', () => {
    const t = tinyTokenizer({model: {ignore_merges: true}})
    t.model.vocab['Ġworld'] = 278
    const ig = new HfBpeTokenizer(t)
    expect(ig.encode('hello world')).toEqual([258, 111, 278])
    expect(tok.encode('hello world')).toEqual([258, 111, 259, 260, 108, 100])
  })

  it('decodes to the text (special tokens included), streams, and never throws', () => {
    for (const [s, ids] of CASES) expect(tok.decode(ids)).toBe(s)
    expect(tok.decode([72, 999, -1, 1.5, 105])).toBe('H\uFFFD\uFFFD\uFFFDi')
    const euro = tok.encode('€') // three byte tokens
    const d = tok.streamDecoder()
    expect(d.push([euro[0]]) + d.push([euro[1]])).toBe('')
    expect(d.push([euro[2], 72])).toBe('€H')
    expect(d.push([euro[0]]) + d.flush()).toBe('\uFFFD')
  })

  it('serialises through tokenizerFromJSON with the tokenizer.json embedded', () => {
    const json = JSON.parse(JSON.stringify(tok.toJSON()))
    expect(json).toMatchObject({kind: 'hf-bpe', vocabSize: 278})
    const back = tokenizerFromJSON(json, 'meta.json: tokenizer')
    for (const [s, ids] of CASES) expect(back.encode(s)).toEqual(ids)
    expect(() => tokenizerFromJSON({...json, vocabSize: 300}, 'meta.json: tokenizer')).toThrow(/vocabSize 300, but its tokenizer\.json has 278 ids/)
    expect(() => tokenizerFromJSON({kind: 'hf-bpe'}, 'meta.json: tokenizer')).toThrow(/without its 'tokenizer' object/)
  })

  it('refuses what it cannot run, naming the field', () => {
    const refuse = (t: Record<string, unknown>, re: RegExp) => {
      expect(() => new HfBpeTokenizer(t, 'tok.json')).toThrow(InputError)
      expect(() => new HfBpeTokenizer(t, 'tok.json')).toThrow(re)
    }
    refuse({...tinyTokenizer(), model: {type: 'WordPiece', vocab: {}}}, /^tok\.json: model\.type "WordPiece" is not supported: expected 'BPE' \(only byte-level BPE tokenizers, GPT-2 style, are\)/)
    refuse(tinyTokenizer({model: {byte_fallback: true}}), /model\.byte_fallback true is not supported/)
    refuse(tinyTokenizer({model: {dropout: 0.1}}), /model\.dropout 0\.1 is not supported/)
    refuse(tinyTokenizer({model: {continuing_subword_prefix: '##'}}), /model\.continuing_subword_prefix "##"/)
    const noByte = tinyTokenizer()
    delete noByte.model.vocab['Ċ']
    refuse(noByte, /model\.vocab has no token for byte 0x0a \("Ċ"\): not a byte-level BPE/)
    refuse(tinyTokenizer({model: {merges: ['h e', 'x yz']}}), /model\.merges\[1\] "x yz" is not supported: expected tokens in model\.vocab \("yz" is not\)/)
    refuse(tinyTokenizer({extra: {normalizer: {type: 'Lowercase'}}}), /normalizer "Lowercase" is not supported: expected null or a Unicode normal form/)
    refuse(tinyTokenizer({pre: {type: 'Metaspace', replacement: '▁'}}), /pre_tokenizer "Metaspace" is not supported: expected ByteLevel, or Sequence/)
    refuse(tinyTokenizer({pre: {type: 'Sequence', pretokenizers: [{type: 'Split', pattern: {Regex: "(?i:'s|'t)|\\p{L}+"}, behavior: 'Isolated'}, {type: 'ByteLevel', use_regex: false}]}}),
      /pretokenizers\[0\]\.pattern .* is not supported: expected a regex JavaScript can compile/)
    refuse(tinyTokenizer({extra: {decoder: {type: 'WordPiece'}}}), /decoder\.type "WordPiece"/)
  })

  it('applies Unicode normalizers', () => {
    const nfc = new HfBpeTokenizer(tinyTokenizer({extra: {normalizer: {type: 'NFC'}}}))
    expect(nfc.encode('e\u0301')).toEqual(tok.encode('\u00e9'))
  })
})
