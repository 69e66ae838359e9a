/**
 * Fuzz the safetensors reader with seeded mutations of valid files. Every variant must either parse (into
 * tensors whose sizes match their shapes) or throw FileFormatError: no other exception, no hang, and no typed
 * array allocation larger than a small multiple of the file size (F16/BF16 decode to F32, so 2x).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {FileFormatError} from '../../src/errors.js'
import {parseSafetensors, readSafetensors, serializeSafetensors} from '../../src/checkpoints/safetensors.js'
import {type Rand, int, largestAllocation, pick} from '../fuzz.js'
import {makeTemp, prng, rawFile, removeTemp} from './helpers.js'

const VARIANTS = 4000


function baseFiles(): Uint8Array[] {
  const f = (n: number, scale = 1) => Float32Array.from({length: n}, (_, i) => (i - n / 2) * scale)
  return [
    serializeSafetensors(
      {
        'h.0.attn.c_attn.weight': {shape: [2, 3], data: f(6, 0.5)},
        'h.0.ln_1.bias': {shape: [3], data: f(3), dtype: 'BF16'},
        'h.0.mlp.weight': {shape: [2, 2], data: f(4, 1000), dtype: 'F16'},
        position_ids: {shape: [2], data: Int32Array.of(0, -1), dtype: 'I64'},
        mask: {shape: [5], data: Uint8Array.of(0, 1, 2, 3, 255)},
        count: {shape: [1], data: Int32Array.of(42)},
        scalar: {shape: [], data: f(1)},
        empty: {shape: [0, 3], data: f(0)},
      },
      {metadata: {format: 'pt', ligo_config: 'n_embd: 32\nn_layer: 2\n'}},
    ),
    serializeSafetensors({w: {shape: [4], data: f(4)}}),
    serializeSafetensors({}),
    serializeSafetensors({a: {shape: [1, 1], data: f(1), dtype: 'F16'}, b: {shape: [3], data: Int32Array.of(1, 2, 3)}}, {metadata: {k: 'v'}}),
  ]
}


function headerLength(buf: Uint8Array): number {
  return Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true))
}

function split(buf: Uint8Array): {header: string; data: Uint8Array} {
  const n = headerLength(buf)
  return {header: new TextDecoder().decode(buf.subarray(8, 8 + n)), data: buf.subarray(8 + n)}
}

const WEIRD_VALUES: unknown[] = [
  1e12, -1, -0.5, 1.5, 2 ** 53, 2 ** 64, 0, 1, 7, 'x', '', null, true, [], {}, [1e12], [-1], ['a'], [1.5], [0, 1e15],
  [-4, 4], [5, 1], [0], [0, 2 ** 60], [2 ** 53, 2 ** 53 + 8], [1, 2, 3], 'F64', 'BOOL', 'f32', 'F16', 'BF16', 'I64',
  'U8', 'I32', 'F32', [4294967296, 4294967296], [65536, 65536, 65536],
]

/** Edit the parsed header JSON: wrong types, huge or negative numbers, missing/extra fields, etc. */
function jsonEdit(rand: Rand, buf: Uint8Array): Uint8Array {
  const {header, data} = split(buf)
  const obj = JSON.parse(header) as Record<string, Record<string, unknown>>
  const names = Object.keys(obj).filter((k) => k !== '__metadata__')
  const edits = int(rand, 1, 3)
  for (let e = 0; e < edits; e++) {
    const name = names.length > 0 ? pick(rand, names) : 'w'
    const entry = (obj[name] ??= {dtype: 'F32', shape: [1], data_offsets: [0, 4]})
    const kind = int(rand, 0, 8)
    if (kind <= 2) entry[pick(rand, ['dtype', 'shape', 'data_offsets'])] = pick(rand, WEIRD_VALUES)
    else if (kind === 3) delete entry[pick(rand, ['dtype', 'shape', 'data_offsets'])]
    else if (kind === 4) entry[pick(rand, ['offsets', 'extra', 'strides'])] = pick(rand, WEIRD_VALUES)
    else if (kind === 5) (obj as Record<string, unknown>).__metadata__ = pick(rand, [5, [], {a: 1}, {a: 'b'}, null, 'x'])
    else if (kind === 6 && names.length >= 2) {
      const other = obj[pick(rand, names)]
      const tmp = entry.data_offsets
      entry.data_offsets = other.data_offsets
      other.data_offsets = tmp
    } else if (kind === 7) {
      const offs = entry.data_offsets
      if (Array.isArray(offs) && offs.length === 2) entry.data_offsets = [offs[0] + int(rand, -8, 8), offs[1] + int(rand, -8, 8)]
    } else {
      const shape = entry.shape
      if (Array.isArray(shape)) entry.shape = [...shape, pick(rand, [0, 1, 2, 1e12, -3])]
    }
  }
  let text = JSON.stringify(obj)
  if (rand() < 0.5) text += ' '.repeat((8 - (text.length % 8)) % 8)
  return rawFile(text, data)
}

/** Insert a second copy of a key, at the top level or inside an entry. */
function duplicateKey(rand: Rand, buf: Uint8Array): Uint8Array {
  const {header, data} = split(buf)
  const m = /"([^"\\]+)":(\{[^{}]*\})/.exec(header)
  if (m === null) return rawFile('{"a":1,"a":2}', data)
  const text =
    rand() < 0.5
      ? header.replace(m[0], `${m[0]},${m[0]}`) // duplicate tensor entry
      : header.replace('"dtype":', '"dtype":"F32","dtype":') // duplicate field
  return rawFile(text, data)
}

/** Random character edits of the header text, with a correct length field. */
function textEdit(rand: Rand, buf: Uint8Array): Uint8Array {
  const {header, data} = split(buf)
  let text = header
  const alphabet = '{}[]",:0123456789-+eE. aAF\\u\u00e9\u{1f600}'
  const edits = int(rand, 1, 4)
  for (let e = 0; e < edits; e++) {
    const at = int(rand, 0, text.length)
    const c = pick(rand, [...alphabet])
    const op = int(rand, 0, 2)
    text = op === 0 ? text.slice(0, at) + c + text.slice(at) : op === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + c + text.slice(at + 1)
  }
  return rawFile(text, data)
}

function flipBytes(rand: Rand, buf: Uint8Array, from: number, to: number): Uint8Array {
  const out = buf.slice()
  if (to <= from) return out
  const flips = int(rand, 1, 4)
  for (let f = 0; f < flips; f++) {
    const at = int(rand, from, to - 1)
    out[at] = rand() < 0.5 ? out[at] ^ (1 << int(rand, 0, 7)) : int(rand, 0, 255)
  }
  return out
}

function setLength(rand: Rand, buf: Uint8Array): Uint8Array {
  const out = buf.slice()
  const n = headerLength(buf)
  const candidates = [0n, 1n, 2n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(buf.length), BigInt(buf.length - 8), 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n, BigInt(int(rand, 0, 1 << 30))]
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, pick(rand, candidates)), true)
  return out
}

function mutate(rand: Rand, base: Uint8Array): Uint8Array {
  const n = headerLength(base)
  switch (int(rand, 0, 8)) {
    case 0:
      return flipBytes(rand, base, 8, 8 + n)
    case 1:
      return flipBytes(rand, base, 8 + n, base.length)
    case 2:
      return flipBytes(rand, base, 0, 8)
    case 3:
      return setLength(rand, base)
    case 4:
      return base.slice(0, int(rand, 0, base.length - 1)) // truncation
    case 5: {
      const out = new Uint8Array(base.length + int(rand, 1, 16))
      out.set(base)
      for (let i = base.length; i < out.length; i++) out[i] = int(rand, 0, 255)
      return out
    }
    case 6:
      return jsonEdit(rand, base)
    case 7:
      return duplicateKey(rand, base)
    default:
      return textEdit(rand, base)
  }
}

interface Outcome {
  ok: boolean
  error?: unknown
  decodedBytes: number
}

function tryParse(read: () => ReturnType<typeof parseSafetensors>): Outcome {
  try {
    const file = read()
    let decodedBytes = 0
    for (const [name, t] of file.tensors) {
      const count = t.shape.reduce((a, b) => a * b, 1)
      if (t.data.length !== count) throw new Error(`tensor ${name}: ${t.data.length} values for shape [${t.shape}]`)
      decodedBytes += t.data.byteLength
    }
    return {ok: true, decodedBytes}
  } catch (error) {
    return {ok: false, error, decodedBytes: 0}
  }
}

describe('safetensors reader fuzz', () => {
  let dir: string
  beforeAll(() => {
    dir = makeTemp('ligo-fuzz-')
    // Build the F16 lookup table outside the allocation tracking.
    parseSafetensors(serializeSafetensors({h: {shape: [1], data: Float32Array.of(1), dtype: 'F16'}}), 'warmup')
  })
  afterAll(() => removeTemp(dir))

  it(`parses or throws FileFormatError for ${VARIANTS} seeded mutations, allocating at most 2x the file`, () => {
    const rand = prng(20240611)
    const bases = baseFiles()
    for (const b of bases) expect(tryParse(() => parseSafetensors(b, 'base')).ok).toBe(true)

    const stats = {ok: 0, rejected: 0, viaFile: 0}
    const badErrors: string[] = []
    const tracked = largestAllocation(() => {
      for (let v = 0; v < VARIANTS; v++) {
        const buf = mutate(rand, pick(rand, bases))
        let outcome: Outcome
        if (v % 10 === 0) {
          const file = path.join(dir, `v${v}.safetensors`)
          fs.writeFileSync(file, buf)
          outcome = tryParse(() => readSafetensors(file, {checkFinite: rand() < 0.3}))
          stats.viaFile++
        } else {
          // Odd byte offsets too: the reader must not assume an aligned input buffer.
          const shifted = rand() < 0.5 ? buf : (() => {
            const pool = new Uint8Array(buf.length + 1)
            pool.set(buf, 1)
            return pool.subarray(1)
          })()
          outcome = tryParse(() => parseSafetensors(shifted, `variant ${v}`, {checkFinite: rand() < 0.3}))
        }
        if (outcome.ok) {
          stats.ok++
          if (outcome.decodedBytes > 2 * buf.length) badErrors.push(`variant ${v}: decoded ${outcome.decodedBytes} bytes from a ${buf.length}-byte file`)
        } else if (outcome.error instanceof FileFormatError) {
          stats.rejected++
        } else {
          badErrors.push(`variant ${v}: ${String(outcome.error)}`)
        }
        // No single typed array beyond 2x the file (plus the 8-byte length read): checked per variant.
      }
    })
    expect(badErrors).toEqual([])
    expect(stats.ok + stats.rejected).toBe(VARIANTS)
    expect(stats.rejected).toBeGreaterThan(VARIANTS / 2) // most mutations must be caught
    expect(stats.ok).toBeGreaterThan(50) // data-section flips must still parse
    expect(stats.viaFile).toBe(VARIANTS / 10)
    // The largest base file is a few hundred bytes; a mutation grows it by at most 16 bytes or a few edits.
    const maxFile = Math.max(...bases.map((b) => b.length)) + 64
    expect(tracked).toBeGreaterThan(0) // the tracking saw the reader's allocations
    expect(tracked).toBeLessThanOrEqual(2 * maxFile)
  })

  it('rejects declared sizes far beyond the file without allocating them', () => {
    const huge = [
      '{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}',
      '{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,8]}}',
      '{"w":{"dtype":"I64","shape":[268435456],"data_offsets":[0,2147483648]}}',
      '{"w":{"dtype":"F16","shape":[65536,65536],"data_offsets":[0,8589934592]}}',
    ]
    const largest = largestAllocation(() => {
      for (const h of huge) {
        const buf = rawFile(h, new Uint8Array(8))
        expect(() => parseSafetensors(buf, 'huge')).toThrow(FileFormatError)
        const file = path.join(dir, 'huge.safetensors')
        fs.writeFileSync(file, buf)
        expect(() => readSafetensors(file)).toThrow(FileFormatError)
      }
    })
    expect(largest).toBeLessThanOrEqual(200)
    // The tracking does see the reader's own allocations: a 1000-float file decodes into a 4000-byte array.
    const valid = serializeSafetensors({w: {shape: [1000], data: new Float32Array(1000)}})
    expect(largestAllocation(() => parseSafetensors(valid, 'valid'))).toBe(4000)
  })
})
