/** The streaming safetensors writer and the progress of reads: files written tensor by tensor, read without copies. */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {CheckpointWriter, weightsSha256} from '../../src/checkpoints/checkpoint.js'
import {LigoError} from '../../src/errors.js'
import {
  SafetensorsWriter,
  type StData,
  type StDtype,
  readSafetensors,
  serializeSafetensors,
} from '../../src/checkpoints/safetensors.js'
import {makeTemp, prng, removeTemp} from './helpers.js'

let dir: string
beforeEach(() => (dir = makeTemp()))
afterEach(() => removeTemp(dir))

function tensors(seed: number): Map<string, {shape: number[]; data: StData; dtype: StDtype}> {
  const r = prng(seed)
  const f = (n: number) => Float32Array.from({length: n}, () => r() * 4 - 2)
  return new Map<string, {shape: number[]; data: StData; dtype: StDtype}>([
    ['b.weight', {shape: [3, 5], data: f(15), dtype: 'F32'}],
    ['a.half', {shape: [7], data: f(7), dtype: 'F16'}],
    ['z.brain', {shape: [2, 3], data: f(6), dtype: 'BF16'}],
    ['ids', {shape: [4], data: Int32Array.from([1, -2, 3, 2 ** 31 - 1]), dtype: 'I64'}],
    ['mask', {shape: [3], data: Uint8Array.from([0, 1, 255]), dtype: 'U8'}],
    ['scalar', {shape: [], data: f(1), dtype: 'F32'}],
    ['empty', {shape: [0, 4], data: new Float32Array(0), dtype: 'F32'}],
    ['ü-name', {shape: [2], data: Int32Array.from([5, 6]), dtype: 'I32'}],
  ])
}

describe('SafetensorsWriter', () => {
  it('writes the bytes of serializeSafetensors, whatever order the tensors come in, and reports progress', () => {
    const t = tensors(1)
    const want = serializeSafetensors(t, {metadata: {producer: 'test', format: 'pt'}})
    for (const order of [[...t.keys()], [...t.keys()].reverse()]) {
      const file = path.join(dir, `m-${order[0]}.safetensors`)
      const progress: [number, number][] = []
      const w = SafetensorsWriter.create(file, [...t].map(([k, v]) => [k, {shape: v.shape, dtype: v.dtype}]), {
        metadata: {producer: 'test', format: 'pt'},
        onProgress: (b, n) => progress.push([b, n]),
      })
      expect(w.size).toBe(want.byteLength)
      for (const name of order) {
        expect(fs.existsSync(file)).toBe(false) // published only by close()
        w.write(name, t.get(name)!.data)
      }
      w.close()
      expect(Buffer.from(fs.readFileSync(file)).equals(Buffer.from(want))).toBe(true)
      expect(progress.length).toBe(t.size)
      expect(progress.at(-1)).toEqual([want.byteLength, want.byteLength])
      expect(progress.every(([b], i) => i === 0 || b >= progress[i - 1][0])).toBe(true)
      expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([])
    }
  })

  it('refuses unannounced, repeated, mis-sized and mis-typed tensors, and publishes nothing when one is missing', () => {
    const file = path.join(dir, 'x.safetensors')
    const w = SafetensorsWriter.create(file, [['a', {shape: [2, 2]}], ['b', {shape: [3], dtype: 'I32'}]])
    expect(() => w.write('c', new Float32Array(4))).toThrow(/'c' was not announced/)
    expect(() => w.write('a', new Float32Array(3))).toThrow(/'a' has shape \[2, 2\] \(4 elements\) but 3 values/)
    expect(() => w.write('b', new Float32Array(3))).toThrow(/'b' is a Float32Array, which cannot be stored as I32/)
    w.write('a', new Float32Array(4))
    expect(() => w.write('a', new Float32Array(4))).toThrow(/'a' is written twice/)
    expect(() => w.close()).toThrow(LigoError)
    expect(fs.readdirSync(dir)).toEqual([])
    expect(() => SafetensorsWriter.create(file, [['__metadata__', {shape: [1]}]])).toThrow(/'__metadata__' cannot be a tensor name/)
    expect(() => SafetensorsWriter.create(file, [['a', {shape: [1]}], ['a', {shape: [2]}]])).toThrow(/occurs twice/)
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('abort() leaves nothing', () => {
    const file = path.join(dir, 'y.safetensors')
    const w = SafetensorsWriter.create(file, [['a', {shape: [2]}]])
    w.write('a', new Float32Array(2))
    w.abort()
    w.abort()
    expect(fs.readdirSync(dir)).toEqual([])
  })
})

describe('readSafetensors at size', () => {
  it('reads each F32 tensor into a buffer of its own (no copy, no shared whole-file buffer) and reports progress', () => {
    const t = tensors(2)
    const file = path.join(dir, 'r.safetensors')
    fs.writeFileSync(file, serializeSafetensors(t))
    const progress: [number, number][] = []
    const st = readSafetensors(file, {onProgress: (b, n) => progress.push([b, n])})
    const f = st.tensors.get('b.weight')!.data as Float32Array
    expect(f.byteOffset).toBe(0)
    expect(f.buffer.byteLength).toBe(f.byteLength)
    expect([...f]).toEqual([...(t.get('b.weight')!.data as Float32Array)])
    const dataBytes = fs.statSync(file).size - 8 - Number(Buffer.from(fs.readFileSync(file)).readBigUInt64LE(0))
    expect(progress.at(-1)).toEqual([dataBytes, dataBytes])
    expect(progress.length).toBe(t.size)
  })

  it('checkpoints written through CheckpointWriter round-trip, and weightsSha256 hashes in pieces', () => {
    const out = path.join(dir, 'ck')
    const ck = CheckpointWriter.begin(out)
    const m = ck.model([{name: 'w', layer: null, module: 'w', shape: [5], spaces: ['resid'], role: 'gain', init: {kind: 'ones'}}])
    m.write('w', Float32Array.from([1, 2, 3, 4, 5]))
    m.close()
    expect(readSafetensors(ck.modelFile).metadata).toEqual({format: 'pt', producer: 'ligo'})
    expect(fs.existsSync(out)).toBe(false)
    ck.file('note.txt', 'hi')
    ck.commit()
    expect(fs.readdirSync(dir)).toEqual(['ck'])
    expect([...(readSafetensors(path.join(out, 'model.safetensors')).tensors.get('w')!.data as Float32Array)]).toEqual([1, 2, 3, 4, 5])
    const bigDir = path.join(dir, 'big')
    fs.mkdirSync(bigDir)
    const big = path.join(bigDir, 'model.safetensors')
    fs.writeFileSync(big, Buffer.alloc((1 << 24) + 3, 7))
    expect(weightsSha256(bigDir)).toBe(crypto.createHash('sha256').update(fs.readFileSync(big)).digest('hex'))
  })
})
