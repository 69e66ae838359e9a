/**
 * Loader edges from the issue #31 audit: values nested 10,000+ deep in any validated JSON field or safetensors
 * header (the error-message helpers must not recurse), headers listing hundreds of thousands of tensors (refused
 * before JSON.parse), a config.json without provenance, and tensor-name lists in errors capped with a count.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {loadCheckpoint, readMeta, saveCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {MAX_HEADER_ENTRIES, readSafetensors, readSafetensorsHeader, writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {tokenizerFromJSON} from '../../src/data/tokenizer.js'
import {ConfigError, LigoError, listSome, preview} from '../../src/errors.js'
import {readHfDir} from '../../src/model/hf.js'
import {modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {TINY_MODEL, TINY_TRAIN, requireDist, tmpDir} from './helpers.js'
import {ligo} from '../cli/run.js'

const DEPTH = 100_000
const deepArray = (): unknown => JSON.parse('['.repeat(DEPTH) + ']'.repeat(DEPTH))
const deepText = '['.repeat(DEPTH) + '1' + ']'.repeat(DEPTH)

/** A tiny complete checkpoint (weights, optimizer file, trainer.json) in a fresh directory. */
function checkpoint(): string {
  const dir = path.join(tmpDir(), 'ck')
  const model = modelConfig(TINY_MODEL)
  saveCheckpoint(dir, {
    meta: {format: 'ligo-checkpoint', version: 1, model, tokenizer: {kind: 'byte', vocabSize: 256}, train: undefined, provenance: {note: 'x'}},
    weights: initWeights(schemaOf(model), 1),
    optimizer: new Map([['step', Float32Array.of(3)]]),
    trainer: {step: 3, tokens: 10, flops: 10, elapsed_s: 1, optimizer: 'adamw'},
  })
  return dir
}

/** Writes a safetensors file whose header is `header` verbatim (no tensor data). */
function rawSafetensors(file: string, header: string): void {
  const json = Buffer.from(header)
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  fs.writeFileSync(file, Buffer.concat([len, json]))
}

/** The error `fn` throws (fails the test if it returns). */
function errorOf(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected an error')
}

describe('error-message helpers are bounded', () => {
  it('preview() shows any value in at most max characters, without recursion', () => {
    expect(preview({a: [1, 'x', null], b: true})).toBe('{"a":[1,"x",null],"b":true}')
    expect(preview(Number.NaN)).toBe('NaN')
    expect(preview('y'.repeat(1000), 20)).toBe('"yyyyyyyyyyyyyyyy...')
    const deep = deepArray()
    expect(() => JSON.stringify(deep)).toThrow(RangeError) // what the old helpers called
    expect(preview(deep)).toBe('['.repeat(77) + '...')
    const wide = Object.fromEntries(Array.from({length: 200_000}, (_, i) => [`k${i}`, i]))
    expect(preview(wide).length).toBe(80)
    expect(listSome(Array.from({length: 300}, (_, i) => `t${i}`), 3)).toBe('t0, t1, t2 and 297 more (300 in all)')
  })

  it('ConfigError names a deep value and a huge key in bounded text', () => {
    const e = new ConfigError('k'.repeat(10_000), deepArray(), 'a number')
    expect(e.message.length).toBeLessThan(400)
  })
})

describe('deeply nested JSON in checkpoint files is a named input error, never a stack overflow', () => {
  const cases: [string, string, (o: any) => void][] = [
    ['config.json', 'model.d_model', (o) => (o.model.d_model = deepArray())],
    ['config.json', 'model (unknown key)', (o) => (o.model.zz = deepArray())],
    ['config.json', 'version', (o) => (o.version = deepArray())],
    ['config.json', 'format', (o) => (o.format = deepArray())],
    ['config.json', 'tokenizer.kind', (o) => (o.tokenizer.kind = deepArray())],
    ['config.json', 'tokenizer.vocabSize', (o) => (o.tokenizer.vocabSize = deepArray())],
    ['config.json', 'train', (o) => (o.train = {...TINY_TRAIN, lr: deepArray()})],
    ['config.json', 'provenance', (o) => (o.provenance = deepArray())],
    ['trainer.json', 'step', (o) => (o.step = deepArray())],
    ['trainer.json', 'tokens', (o) => (o.tokens = deepArray())],
    ['trainer.json', 'optimizer', (o) => (o.optimizer = deepArray())],
  ]
  for (const [file, field, edit] of cases)
    it(`${file} ${field}`, () => {
      const dir = checkpoint()
      const p = path.join(dir, file)
      const o = JSON.parse(fs.readFileSync(p, 'utf8'))
      edit(o)
      // JSON.stringify cannot write it either: splice the deep text in by hand
      const marker = '"__DEEP__"'
      const text = JSON.stringify(o, (_k, v) => (Array.isArray(v) && Array.isArray(v[0]) ? '__DEEP__' : v)).replace(marker, deepText)
      fs.writeFileSync(p, text)
      // the tokenizer is checked where it is used
      const e = errorOf(() => tokenizerFromJSON(loadCheckpoint(dir, {optimizer: true}).meta.tokenizer, p))
      expect(e, e.stack).toBeInstanceOf(LigoError)
      expect(e.message).toContain(p)
      expect(e.message.length).toBeLessThan(2000)
    })

  it('safetensors headers: tensor entries, metadata, model and optimizer files', () => {
    const headers = [
      `{"a":${deepText}}`,
      `{"a":{"dtype":${deepText},"shape":[1],"data_offsets":[0,4]}}`,
      `{"a":{"dtype":"F32","shape":${deepText},"data_offsets":[0,4]}}`,
      `{"a":{"dtype":"F32","shape":[1],"data_offsets":${deepText}}}`,
      `{"__metadata__":{"x":${deepText}}}`,
      `{"__metadata__":${deepText}}`,
    ]
    for (const name of ['model.safetensors', 'optimizer.safetensors'])
      for (const h of headers) {
        const dir = checkpoint()
        const file = path.join(dir, name)
        rawSafetensors(file, h)
        const e = errorOf(() => loadCheckpoint(dir, {optimizer: true}))
        expect(e, `${name} ${h.slice(0, 40)}: ${e.stack}`).toBeInstanceOf(LigoError)
        expect(e.message).toContain(file)
        expect(e.message.length).toBeLessThan(1000)
      }
  })

  it('a Hugging Face config.json', () => {
    const dir = tmpDir()
    for (const key of ['architectures', 'hidden_size', 'model_type', 'rope_scaling']) {
      const base: Record<string, unknown> = {model_type: 'llama', hidden_size: 16}
      delete base[key]
      fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(base).slice(0, -1)},${JSON.stringify(key)}:${deepText}}`)
      const e = errorOf(() => readHfDir(dir))
      expect(e, `${key}: ${e.stack}`).toBeInstanceOf(LigoError)
      expect(e.message.length).toBeLessThan(1000)
    }
  })

  it('CLI: ligo info exits 2 naming the file', () => {
    requireDist()
    const dir = checkpoint()
    const p = path.join(dir, 'config.json')
    fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace('"version": 1', `"version": ${deepText}`))
    const r = ligo(['info', dir])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain(`${p}: version [[[[`)
    expect(r.stderr).not.toContain('Maximum call stack')
  })
})

describe('safetensors header structure limits (checked before JSON.parse)', () => {
  it(`refuses more than ${MAX_HEADER_ENTRIES} tensors, long shapes and deep nesting; accepts the limit`, () => {
    const dir = tmpDir()
    const file = path.join(dir, 'x.safetensors')
    const entries = (n: number) => '{' + Array.from({length: n}, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',') + '}'
    rawSafetensors(file, entries(300_000))
    expect(() => readSafetensorsHeader(file)).toThrow(`${file}: header lists more than ${MAX_HEADER_ENTRIES} tensors`)
    rawSafetensors(file, entries(MAX_HEADER_ENTRIES))
    expect(readSafetensorsHeader(file).entries.size).toBe(MAX_HEADER_ENTRIES)
    rawSafetensors(file, `{"a":{"dtype":"F32","shape":[${Array(65).fill(1).join(',')}],"data_offsets":[0,4]}}`)
    expect(() => readSafetensors(file)).toThrow(/tensor 'a': an array in its entry has more than 64 values/)
    rawSafetensors(file, `{"a":{"dtype":"F32","shape":[${Array(64).fill(1).join(',')}],"data_offsets":[0,0]}}`)
    expect(() => readSafetensors(file)).toThrow(/needs 4 bytes but data_offsets \[0, 0\] span 0/) // 64 dims pass the scan
    rawSafetensors(file, `{"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}`)
    expect(() => readSafetensors(file)).toThrow(/header nests deeper than a safetensors header does \(3 levels\) in entry 'a'/)
    // strings holding brackets, commas and escaped quotes are skipped by the scan
    const odd = 'n\\"[,{'.repeat(20)
    writeSafetensors(file, new Map([[JSON.parse(`"${odd}"`) as string, {shape: [2], data: Float32Array.of(1, 2)}]]))
    expect([...readSafetensors(file).tensors.values()][0].data).toEqual(Float32Array.of(1, 2))
  })
})

describe('checkpoint config and error lists', () => {
  it('config.json without provenance, or with null, reads as no provenance (ligo info works); a non-object is refused', () => {
    requireDist()
    const dir = checkpoint()
    const p = path.join(dir, 'config.json')
    const o = JSON.parse(fs.readFileSync(p, 'utf8'))
    for (const prov of [undefined, null]) {
      fs.writeFileSync(p, JSON.stringify({...o, provenance: prov}))
      expect(readMeta(dir).provenance).toEqual({})
      const r = ligo(['info', dir])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('parameters:')
    }
    fs.writeFileSync(p, JSON.stringify({...o, provenance: [1, 2]}))
    expect(() => readMeta(dir)).toThrow(`${p}: 'provenance' is [1,2]: expected an object`)
  })

  it('loadCheckpoint lists at most 20 missing and 20 unexpected tensor names, with the count', () => {
    const dir = checkpoint()
    const file = path.join(dir, 'model.safetensors')
    const extra = new Map(Array.from({length: 5000}, (_, i) => [`junk.${i}`, {shape: [1], data: Float32Array.of(i)}]))
    writeSafetensors(file, extra)
    const e = errorOf(() => loadCheckpoint(dir))
    expect(e.message).toMatch(/missing tensors: wte\.weight, wpe\.weight, h\.0\./)
    expect(e.message).toMatch(/unexpected tensors: (junk\.\d+, ){19}junk\.\d+ and 4980 more \(5000 in all\)$/)
    expect(e.message.length).toBeLessThan(2000)
  })
})
