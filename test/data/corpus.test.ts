import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {FileFormatError, InputError} from '../../src/errors.js'
import {
  brownDir,
  brownDocuments,
  brownFiles,
  brownToText,
  detokenize,
  firstInvalidUtf8,
  jsonlDocuments,
  listTextFiles,
  stripTag,
  textFileDocuments,
} from '../../src/data/corpus.js'

async function collect(src: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const d of src) out.push(d)
  return out
}

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-corpus-'))
})
afterAll(() => {
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('Brown POS stripping and detokenisation', () => {
  it('strips the tag after the last slash', () => {
    expect(stripTag('The/at')).toBe('The')
    expect(stripTag("Atlanta's/np$")).toBe("Atlanta's")
    expect(stripTag('County/nn-tl')).toBe('County')
    expect(stripTag("''/''")).toBe("''")
    expect(stripTag('1/2/cd')).toBe('1/2')
    expect(stripTag('//in')).toBe('/')
    expect(stripTag('AAb//nn')).toBe('AAb/')
    expect(stripTag('not/*')).toBe('not')
    expect(stripTag('untagged')).toBe('untagged')
  })

  it('joins tokens into natural text', () => {
    expect(detokenize(['He', 'said', ',', '``', 'no', "''", '.'])).toBe('He said, "no".')
    expect(detokenize(['It', 'was', '(', 'they', 'said', ')', 'fine', ';', 'ok', '?', '!'])).toBe('It was (they said) fine; ok?!')
    expect(detokenize(['John', "'s", 'car', 'does', "n't", 'start', ':', 'why'])).toBe("John's car doesn't start: why")
    expect(detokenize(["'", 'pro', "'", 'and', "'", 'con', "'"])).toBe("'pro' and 'con'")
    expect(detokenize(["'em", 'and', "'round"])).toBe("'em and 'round")
    expect(detokenize(['Ivan', 'Allen', 'Jr.', '.'])).toBe('Ivan Allen Jr.')
    expect(detokenize(['a', '--', 'b'])).toBe('a -- b')
    expect(detokenize([])).toBe('')
  })

  it('reproduces the opening of ca01 exactly', async () => {
    const [ca01] = await collect(brownDocuments({files: ['ca01']}))
    const paras = ca01.split('\n\n')
    expect(paras[0]).toBe(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    )
    expect(paras[1]).toBe(
      'The jury further said in term-end presentments that the City Executive Committee, which had over-all charge of the election, "deserves the praise and thanks of the City of Atlanta" for the manner in which the election was conducted.',
    )
    expect(paras[2]).toBe(
      'The September-October term jury had been charged by Fulton Superior Court Judge Durwood Pye to investigate reports of possible "irregularities" in the hard-fought primary which was won by Mayor-nominate Ivan Allen Jr.',
    )
    expect(paras[3]).toBe(
      '"Only a relative handful of such reports was received", the jury said, "considering the widespread interest in the election, the number of voters and the size of this city".',
    )
    // A headline is its own paragraph; the next line continues as a paragraph of its own.
    expect(paras[7]).toBe('Merger proposed')
    expect(paras[8]).toBe(
      'However, the jury said it believes "these two offices should be combined to achieve greater efficiency and reduce the cost of administration".',
    )
    // Consecutive sentence lines form one paragraph.
    expect(paras[9]).toBe(
      'The City Purchasing Department, the jury said, "is lacking in experienced clerical personnel as a result of city personnel policies". It urged that the city "take steps to remedy" this problem.',
    )
    expect(ca01).not.toMatch(/\/(at|nn|np|in|vbd)\b/)
    expect(ca01).not.toMatch(/``|''| [,.;:?!)]/)
  })

  it('handles single quotes in ca02', async () => {
    const [ca02] = await collect(brownDocuments({files: ['ca02']}))
    expect(ca02).toContain('"We\'re getting more \'pro\' letters than \'con\' on horse race betting", said Ratcliff.')
  })

  it('turns a tagged snippet into paragraphs', () => {
    const raw = '\n\n\tA/at b/nn ./.\nC/np d/vb ./.\n\n\n\n1/cd-hl ./.-hl\nIntro/nn-hl \nE/np ,/, ``/`` f/nn \'\'/\'\' ./.\n'
    expect(brownToText(raw)).toBe('A b. C d.\n\n1.\n\nIntro\n\nE, "f".')
  })

  it('lists the 500 Brown files in order', () => {
    const files = brownFiles()
    expect(files.length).toBe(500)
    expect(files[0]).toBe('ca01')
    expect(files[499]).toBe('cr09')
    expect([...files].sort()).toEqual(files)
    expect(fs.existsSync(path.join(brownDir(), 'ca01'))).toBe(true)
  })
})

describe('text files', () => {
  it('reads files and .txt files under directories, recursively and sorted', async () => {
    const root = path.join(dir, 'texts')
    fs.mkdirSync(path.join(root, 'b', 'deep'), {recursive: true})
    fs.mkdirSync(path.join(root, '.git'), {recursive: true})
    fs.writeFileSync(path.join(root, 'b', 'deep', 'z.txt'), 'deep z')
    fs.writeFileSync(path.join(root, 'b', 'a.txt'), 'b/a')
    fs.writeFileSync(path.join(root, 'a.txt'), 'héllo 👋')
    fs.writeFileSync(path.join(root, 'notes.md'), 'ignored')
    fs.writeFileSync(path.join(root, '.hidden.txt'), 'ignored')
    fs.writeFileSync(path.join(root, '.git', 'x.txt'), 'ignored')
    const single = path.join(dir, 'single.md')
    fs.writeFileSync(single, '\uFEFFexplicit file, any name')
    expect(listTextFiles([root, single]).map((f) => path.relative(dir, f))).toEqual([
      'texts/a.txt',
      'texts/b/a.txt',
      'texts/b/deep/z.txt',
      'single.md',
    ])
    expect(await collect(textFileDocuments([root, single]))).toEqual(['héllo 👋', 'b/a', 'deep z', 'explicit file, any name'])
  })

  it('rejects invalid UTF-8 naming the file and offset, and missing paths', async () => {
    const bad = path.join(dir, 'latin1.txt')
    fs.writeFileSync(bad, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]))
    const err = await collect(textFileDocuments([bad])).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FileFormatError)
    expect((err as Error).message).toBe(`${bad}: not valid UTF-8 (bad byte 0xe9 at offset 3); save it as UTF-8`)
    await expect(collect(textFileDocuments([path.join(dir, 'nope')]))).rejects.toThrow(/no such file or directory/)
    const empty = path.join(dir, 'emptydir')
    fs.mkdirSync(empty)
    expect(() => listTextFiles([empty])).toThrow(InputError)
    expect(() => listTextFiles([])).toThrow(InputError)
  })

  it('finds the first invalid UTF-8 byte', () => {
    const at = (...b: number[]) => firstInvalidUtf8(new Uint8Array(b))
    expect(at(0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1)
    expect(at(0x41, 0xc0, 0x80)).toBe(1) // overlong
    expect(at(0xe0, 0x80, 0x80)).toBe(0) // overlong 3-byte
    expect(at(0x41, 0xed, 0xa0, 0x80)).toBe(1) // surrogate
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0) // > U+10FFFF
    expect(at(0x41, 0x42, 0xe2, 0x82)).toBe(2) // truncated
    expect(at(0x80)).toBe(0) // stray continuation
    expect(at(0xc3, 0x41)).toBe(0)
  })
})

describe('JSON Lines', () => {
  const write = (name: string, text: string | Buffer) => {
    const f = path.join(dir, name)
    fs.writeFileSync(f, text)
    return f
  }

  it('yields the field of each line, skipping blank lines, with CRLF and no final newline', async () => {
    const f = write('ok.jsonl', '{"text": "one"}\r\n\n   \n{"text": "two\\nlines", "id": 2}\n{"body": "x", "text": "über 🎉"}')
    expect(await collect(jsonlDocuments(f))).toEqual(['one', 'two\nlines', 'über 🎉'])
    const g = write('field.jsonl', '{"body": "a"}\n{"body": ""}\n')
    expect(await collect(jsonlDocuments(g, 'body'))).toEqual(['a', ''])
  })

  it('names file:line and what was expected for bad lines', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"text": "a"}\n\n{"text": oops}\n', /:3: invalid JSON \(.*\); expected a JSON object with a string field 'text'$/],
      ['{"text": "a"}\n[1, 2]\n', /:2: expected a JSON object with a string field 'text', found an array$/],
      ['"just a string"\n', /:1: expected a JSON object with a string field 'text', found a string$/],
      ['null\n', /:1: .*found null$/],
      ['{"text": "a"}\n{"txt": "b", "id": 1}\n', /:2: .*found an object without it \(keys: 'txt', 'id'\)$/],
      ['{"text": 5}\n', /:1: .*found field 'text' of type number$/],
    ]
    for (const [i, [text, msg]] of cases.entries()) {
      const f = write(`bad${i}.jsonl`, text)
      const err = await collect(jsonlDocuments(f)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(FileFormatError)
      expect((err as Error).message.startsWith(`${f}:`)).toBe(true)
      expect((err as Error).message).toMatch(msg)
    }
    const f = write('badutf8.jsonl', Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "'), Buffer.from([0xff]), Buffer.from('"}\n')]))
    await expect(collect(jsonlDocuments(f))).rejects.toThrow(`${f}:2: invalid UTF-8 at byte 11 of the line`)
    await expect(collect(jsonlDocuments(path.join(dir, 'missing.jsonl')))).rejects.toThrow(InputError)
    await expect(collect(jsonlDocuments(dir))).rejects.toThrow(/cannot read \(EISDIR\)/)
  })

  it('streams lines longer than the read buffer', async () => {
    const long = 'x'.repeat(3 << 20)
    const f = write('long.jsonl', `${JSON.stringify({text: long})}\n${JSON.stringify({text: 'short'})}\n`)
    const docs = await collect(jsonlDocuments(f))
    expect(docs.length).toBe(2)
    expect(docs[0].length).toBe(long.length)
    expect(docs[1]).toBe('short')
  })
})
