import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {FileFormatError, InputError, LigoError} from '../../src/errors.js'
import {
  ST_DTYPES,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  readShardedSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from '../../src/checkpoints/safetensors.js'
import {f32Bytes, makeTemp, prng, rawFile, removeTemp, thrown} from './helpers.js'

const F32 = (values: number[]) => Float32Array.from(values)

/** Bits of one float32 value. */
function bitsOf(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0]
}

function floatFromBits(bits: number): number {
  return new Float32Array(Uint32Array.of(bits).buffer)[0]
}

/** Round-half-to-even of a double (exact for the values used here). */
function roundHalfEven(q: number): number {
  const f = Math.floor(q)
  const r = q - f
  if (r > 0.5) return f + 1
  if (r < 0.5) return f
  return f % 2 === 0 ? f : f + 1
}

/** Reference rounding of a float32 to a float format with `mant` mantissa bits and min normal exponent `emin`. */
function refRound(x: number, mant: number, emin: number, max: number, overflowAt: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const a = Math.abs(x)
  const e = Math.max(Math.floor(Math.log2(a)), emin)
  const ulp = 2 ** (e - mant)
  let r = roundHalfEven(a / ulp) * ulp
  if (a >= overflowAt) r = Infinity
  else if (r > max) r = Infinity
  return Math.sign(x) * r
}

function expectFormatError(fn: () => unknown, fragment: string | RegExp): FileFormatError {
  const err = thrown(fn)
  expect(err).toBeInstanceOf(FileFormatError)
  const e = err as FileFormatError
  if (typeof fragment === 'string') expect(e.message).toContain(fragment)
  else expect(e.message).toMatch(fragment)
  expect(e.exitCode).toBe(2)
  return e
}

describe('F16 conversion', () => {
  it('round-trips every half bit pattern (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i)
    const back = f32ToF16(f16ToF32(all))
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0
      if (isNaN) {
        expect(Number.isNaN(f16ToF32(Uint16Array.of(back[h]))[0])).toBe(true)
        expect(back[h] & 0x8000).toBe(h & 0x8000)
      } else if (back[h] !== h) {
        expect.fail(`half 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`)
      }
    }
  })

  it('decodes special values exactly', () => {
    const got = f16ToF32(Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x7e00))
    expect([...got]).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, -0, NaN])
    expect(Object.is(got[8], -0)).toBe(true)
  })

  it('rounds to nearest, ties to even', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even is 1+2^-9
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway rounds up
      [65504, 0x7bff],
      [65519, 0x7bff], // below the 65520 midpoint
      [65520, 0x7c00], // midpoint to the next (nonexistent) value rounds to Inf
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: even is 0
      [-(2 ** -25), 0x8000],
      [2 ** -25 * 1.0000001, 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: even is 2
      [5 * 2 ** -25, 0x0002], // halfway between 2 and 3 units: even is 2
      [1023.5 * 2 ** -24, 0x0400], // halfway between the largest subnormal and the smallest normal
      [2 ** -14, 0x0400],
      [1e-10, 0x0000],
      [floatFromBits(0x00000001), 0x0000], // float32 subnormal
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ]
    const got = f32ToF16(F32(cases.map((c) => c[0])))
    cases.forEach(([x, want], i) => expect([x, got[i].toString(16)]).toEqual([x, want.toString(16)]))
    const nan = f32ToF16(F32([NaN]))[0]
    expect(nan & 0x7c00).toBe(0x7c00)
    expect(nan & 0x3ff).not.toBe(0)
    expect(f32ToF16(new Float32Array(Uint32Array.of(0x7f800001).buffer))[0] & 0x3ff).not.toBe(0) // payload-only NaN stays NaN
  })

  it('matches a reference rounding on 100k random floats across the whole range', () => {
    const rand = prng(7)
    const xs = new Float32Array(100_000)
    for (let i = 0; i < xs.length; i++) xs[i] = (rand() < 0.5 ? -1 : 1) * rand() * 2 ** Math.floor(rand() * 50 - 30)
    const got = f16ToF32(f32ToF16(xs))
    for (let i = 0; i < xs.length; i++) {
      const want = refRound(xs[i], 10, -14, 65504, 65520)
      if (!Object.is(got[i], want) && got[i] !== want) expect.fail(`f16(${xs[i]}) = ${got[i]}, want ${want}`)
    }
  })
})

describe('BF16 conversion', () => {
  it('round-trips every bfloat16 bit pattern (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i)
    const back = f32ToBf16(bf16ToF32(all))
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0
      if (isNaN) expect(Number.isNaN(bf16ToF32(Uint16Array.of(back[h]))[0])).toBe(true)
      else if (back[h] !== h) expect.fail(`bf16 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`)
    }
  })

  it('rounds to nearest, ties to even, including overflow and subnormals', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [1 + 2 ** -8, 0x3f80], // tie: even is 1
      [1 + 3 * 2 ** -8, 0x3f82], // tie: even is 1+2^-6
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [floatFromBits(0x7f7fffff), 0x7f80], // max float32 rounds to Inf
      [floatFromBits(0x00008000), 0x0000], // subnormal tie: even is 0
      [floatFromBits(0x00018000), 0x0002], // subnormal tie: even is 2
      [floatFromBits(0x00010001), 0x0001],
      [-0, 0x8000],
      [-Infinity, 0xff80],
    ]
    const got = f32ToBf16(F32(cases.map((c) => c[0])))
    cases.forEach(([x, want], i) => expect([x, got[i].toString(16)]).toEqual([x, want.toString(16)]))
    const nan = f32ToBf16(new Float32Array(Uint32Array.of(0x7f800001, 0xffc00000).buffer))
    expect(Number.isNaN(bf16ToF32(nan)[0])).toBe(true)
    expect(Number.isNaN(bf16ToF32(nan)[1])).toBe(true)
  })

  it('matches a reference rounding on 100k random floats', () => {
    const rand = prng(11)
    const xs = new Float32Array(100_000)
    for (let i = 0; i < xs.length; i++) xs[i] = (rand() < 0.5 ? -1 : 1) * rand() * 2 ** Math.floor(rand() * 250 - 125)
    const got = bf16ToF32(f32ToBf16(xs))
    for (let i = 0; i < xs.length; i++) {
      const want = refRound(xs[i], 7, -126, floatFromBits(0x7f7f0000), floatFromBits(0x7f7f8000))
      if (got[i] !== want) expect.fail(`bf16(${xs[i]}) = ${got[i]}, want ${want}`)
    }
    expect(bitsOf(bf16ToF32(Uint16Array.of(0x3f80))[0])).toBe(0x3f800000)
  })
})

describe('serializeSafetensors', () => {
  it('writes the exact bytes of a one-tensor file', () => {
    const out = serializeSafetensors({'attn.0': {shape: [1, 2, 3], data: F32([0, 1, 2, 3, 4, 5])}})
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
    expect(header.length).toBe(64) // already a multiple of 8: no padding
    expect([...out]).toEqual([...rawFile(header, f32Bytes([0, 1, 2, 3, 4, 5]))])
    expect([...out.subarray(0, 8)]).toEqual([64, 0, 0, 0, 0, 0, 0, 0])
  })

  it('writes the exact bytes of a file with metadata, several dtypes and padding', () => {
    const out = serializeSafetensors(
      new Map([
        ['h', {shape: [1], data: F32([1]), dtype: 'F16' as const}],
        ['ids', {shape: [3], data: Int32Array.of(1, 2, 3)}],
        ['w', {shape: [2], data: F32([1, -2])}],
      ]),
      {metadata: {format: 'pt', b: 'x'}},
    )
    const json =
      '{"__metadata__":{"b":"x","format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"ids":{"dtype":"I32","shape":[3],"data_offsets":[8,20]},' +
      '"h":{"dtype":"F16","shape":[1],"data_offsets":[20,22]}}'
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8)
    const data = [...f32Bytes([1, -2]), 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0x00, 0x3c]
    expect(padded.length % 8).toBe(0)
    expect(padded.length).toBeGreaterThan(json.length)
    expect([...out]).toEqual([...rawFile(padded, data)])
  })

  it('writes an empty file as {} padded to 8 bytes', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32])
  })

  it('orders tensors by descending dtype alignment, then by UTF-8 name', () => {
    const t = (dtype?: 'F16' | 'BF16' | 'I64') => ({shape: [1], data: F32([1]), ...(dtype ? {dtype} : {})})
    const out = serializeSafetensors({
      b: t(),
      a: t(),
      c: {shape: [1], data: Uint8Array.of(7)},
      d: t('F16'),
      e: {shape: [1], data: Int32Array.of(1)},
      f: t('BF16'),
      g: {shape: [1], data: Int32Array.of(-5), dtype: 'I64'},
      '9': t(),
      '10': t(),
    })
    const names = [...parseSafetensors(out, 'mem').tensors.keys()]
    expect(names).toEqual(['g', '10', '9', 'a', 'b', 'e', 'f', 'd', 'c'])
    const header = new TextDecoder().decode(out.subarray(8, 8 + Number(new DataView(out.buffer).getBigUint64(0, true))))
    expect(header.indexOf('"10"')).toBeLessThan(header.indexOf('"9"')) // integer-like names keep byte order
  })

  it('is byte-deterministic and independent of input order', () => {
    const a = serializeSafetensors({x: {shape: [2], data: F32([1, 2])}, y: {shape: [], data: F32([3])}}, {metadata: {k: 'v', a: 'b'}})
    const b = serializeSafetensors(
      new Map([
        ['y', {shape: [], data: F32([3])}],
        ['x', {shape: [2], data: F32([1, 2])}],
      ]),
      {metadata: {a: 'b', k: 'v'}},
    )
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
  })

  it('aligns the data section to 8 bytes for every name length', () => {
    for (let len = 1; len <= 24; len++) {
      const out = serializeSafetensors({['x'.repeat(len)]: {shape: [2], data: F32([1, 2])}})
      const n = Number(new DataView(out.buffer).getBigUint64(0, true))
      expect(n % 8).toBe(0)
      expect((8 + n) % 8).toBe(0)
      expect(out[8 + n - 1]).toBeOneOf([0x7d, 0x20]) // '}' or padding space
    }
  })

  it('refuses bad input with a LigoError naming the tensor', () => {
    expect(() => serializeSafetensors({w: {shape: [2, 2], data: F32([1, 2, 3])}})).toThrow(/'w' has shape \[2, 2\] \(4 elements\) but 3 values/)
    expect(() => serializeSafetensors({w: {shape: [-1], data: F32([])}})).toThrow(LigoError)
    expect(() => serializeSafetensors({__metadata__: {shape: [0], data: F32([])}})).toThrow(/cannot be a tensor name/)
    expect(() => serializeSafetensors({w: {shape: [1], data: Int32Array.of(1), dtype: 'F32'}})).toThrow(/Int32Array, which cannot be stored as F32/)
    expect(() => serializeSafetensors({}, {metadata: {k: 3 as unknown as string}})).toThrow(/'k' must be a string/)
    const f64 = {shape: [1], data: Float64Array.of(1) as unknown as Float32Array}
    expect(() => serializeSafetensors({d: f64})).toThrow(/'d' data must be a Float32Array, Int32Array or Uint8Array/)
  })
})

describe('parseSafetensors round trips', () => {
  it('is exact for F32, I32, U8, I64 and scalars/empty tensors', () => {
    const w = F32([0, -0, 1.5, -3.25e-40, 3.4028234663852886e38, Infinity, -Infinity, NaN, 1e-45])
    const out = serializeSafetensors({
      w: {shape: [3, 3], data: w},
      ids: {shape: [2], data: Int32Array.of(-2147483648, 2147483647)},
      big: {shape: [3], data: Int32Array.of(-1, 0, 123456789), dtype: 'I64'},
      mask: {shape: [2, 1], data: Uint8Array.of(0, 255)},
      scalar: {shape: [], data: F32([7])},
      empty: {shape: [0, 4], data: F32([])},
    })
    const got = parseSafetensors(out, 'mem')
    expect(got.tensors.get('w')).toEqual({dtype: 'F32', shape: [3, 3], data: w})
    expect(Object.is(got.tensors.get('w')?.data[1], -0)).toBe(true)
    expect(got.tensors.get('ids')?.data).toEqual(Int32Array.of(-2147483648, 2147483647))
    expect(got.tensors.get('big')).toEqual({dtype: 'I64', shape: [3], data: Int32Array.of(-1, 0, 123456789)})
    expect(got.tensors.get('mask')).toEqual({dtype: 'U8', shape: [2, 1], data: Uint8Array.of(0, 255)})
    expect(got.tensors.get('scalar')).toEqual({dtype: 'F32', shape: [], data: F32([7])})
    expect(got.tensors.get('empty')).toEqual({dtype: 'F32', shape: [0, 4], data: F32([])})
  })

  it('rounds F16 and BF16 as the converters do, and keeps the stored dtype', () => {
    const rand = prng(3)
    const xs = F32(Array.from({length: 257}, () => (rand() - 0.5) * 100))
    for (const dtype of ['F16', 'BF16'] as const) {
      const out = serializeSafetensors({x: {shape: [257], data: xs}, i: {shape: [1], data: Int32Array.of(4)}}, {dtype})
      const got = parseSafetensors(out, 'mem').tensors
      const want = dtype === 'F16' ? f16ToF32(f32ToF16(xs)) : bf16ToF32(f32ToBf16(xs))
      expect(got.get('x')).toEqual({dtype, shape: [257], data: want})
      expect(got.get('i')?.dtype).toBe('I32') // integer tensors are not affected by the float dtype
      for (let k = 0; k < xs.length; k++) expect(Math.abs(want[k] - xs[k])).toBeLessThanOrEqual(Math.abs(xs[k]) * (dtype === 'F16' ? 2 ** -11 : 2 ** -8))
      // Re-saving what was read keeps the dtype and the bytes.
      expect(Buffer.from(serializeSafetensors(got)).equals(Buffer.from(out))).toBe(true)
    }
  })

  it('reads from a Buffer at an odd byte offset and never aliases it', () => {
    const out = serializeSafetensors({
      w: {shape: [3], data: F32([1, 2, 3])},
      h: {shape: [2], data: F32([0.5, 2]), dtype: 'BF16'},
      m: {shape: [2], data: Uint8Array.of(7, 9)},
      i: {shape: [1], data: Int32Array.of(-3)},
    })
    const pool = Buffer.alloc(out.length + 3)
    pool.set(out, 1)
    const view = pool.subarray(1, 1 + out.length)
    expect(view.byteOffset % 4).not.toBe(0)
    const got = parseSafetensors(view, 'mem')
    expect(got.tensors.get('w')?.data).toEqual(F32([1, 2, 3]))
    expect(got.tensors.get('h')?.data).toEqual(F32([0.5, 2]))
    pool.fill(0)
    expect(got.tensors.get('w')?.data).toEqual(F32([1, 2, 3]))
    expect(got.tensors.get('m')?.data).toEqual(Uint8Array.of(7, 9)) // a Buffer's .slice() would have aliased
    expect(got.tensors.get('i')?.data).toEqual(Int32Array.of(-3))
    expect(Buffer.isBuffer(got.tensors.get('m')?.data)).toBe(false)
  })

  it('does not depend on the header key order (older name-ordered files included)', () => {
    const data = [...f32Bytes([1, 2]), ...f32Bytes([3])]
    const a = '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}'
    const b = '{"a":{"data_offsets":[8,12],"shape":[1],"dtype":"F32"},"b":{"shape":[2],"dtype":"F32","data_offsets":[0,8]},"__metadata__":{"format":"pt"}}'
    const pa = parseSafetensors(rawFile(a, data), 'a')
    const pb = parseSafetensors(rawFile(b, data), 'b')
    expect(pa).toEqual(pb)
    expect([...pa.tensors.keys()]).toEqual(['b', 'a']) // file order
    expect(pa.tensors.get('a')?.data).toEqual(F32([3]))
    expect(pa.metadata).toEqual({format: 'pt'})
  })

  it('accepts several empty tensors at one offset, and a file with no tensors', () => {
    const h = '{"e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e0":{"dtype":"BF16","shape":[2,0],"data_offsets":[0,0]}}'
    const got = parseSafetensors(rawFile(h, f32Bytes([9])), 'mem')
    expect([...got.tensors.keys()].sort()).toEqual(['e0', 'e1', 'x'])
    expect(parseSafetensors(rawFile('{}'), 'mem').tensors.size).toBe(0)
  })

  it('decodes only the requested tensors and names missing ones', () => {
    const out = serializeSafetensors({a: {shape: [1], data: F32([1])}, b: {shape: [1], data: F32([2])}})
    expect([...parseSafetensors(out, 'mem', {only: ['b']}).tensors.keys()]).toEqual(['b'])
    expectFormatError(() => parseSafetensors(out, 'mem', {only: ['b', 'zz', 'yy']}), "missing 2 tensor(s): 'zz', 'yy'")
  })

  it('checks for NaN/Inf only when asked', () => {
    const out = serializeSafetensors({ok: {shape: [1], data: F32([1])}, w: {shape: [3], data: F32([1, NaN, 2])}})
    expect(parseSafetensors(out, 'mem').tensors.get('w')?.data[1]).toBeNaN()
    expectFormatError(() => parseSafetensors(out, 'mem', {checkFinite: true}), "tensor 'w' has a non-finite value (NaN) at flat index 1")
    const inf = serializeSafetensors({h: {shape: [1], data: F32([1e6]), dtype: 'F16'}}) // overflows to Inf in F16
    expectFormatError(() => parseSafetensors(inf, 'mem', {checkFinite: true}), 'Infinity')
  })
})

describe('parseSafetensors rejects malformed files', () => {
  const ok = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
  const okData = f32Bytes([1, 2])
  const entry = (fields: string) => `{"w":{${fields}}}`
  const parse = (header: string, data: Uint8Array | number[] = okData, n?: bigint) => () => parseSafetensors(rawFile(header, data, n), 'bad.safetensors')

  it('names the file in every error', () => {
    expect(expectFormatError(parse('{"w":1}'), 'bad.safetensors:').file).toBe('bad.safetensors')
  })
  it('a file shorter than 8 bytes', () => {
    expectFormatError(() => parseSafetensors(Uint8Array.of(1, 2, 3), 'f'), 'file is 3 bytes, too short')
  })
  it('a header length above 100 MB', () => {
    expectFormatError(parse(ok, okData, 100_000_001n), 'header length 100000001 exceeds the limit of 100000000')
    expectFormatError(parse(ok, okData, 2n ** 64n - 1n), 'exceeds the limit')
  })
  it('a header length below 2', () => {
    expectFormatError(parse('', [], 0n), 'header length 0 is too small')
    expectFormatError(parse('{', [], 1n), 'header length 1 is too small')
  })
  it('a header length past the end of the file', () => {
    expectFormatError(parse(ok, okData, BigInt(ok.length + 9)), 'runs past the end of the file')
  })
  it('a header that is not UTF-8', () => {
    const bytes = rawFile('{"w":{}}', okData)
    bytes[10] = 0xff
    expectFormatError(() => parseSafetensors(bytes, 'f'), 'not valid UTF-8')
  })
  it('a header that is not JSON, or starts with a BOM', () => {
    expectFormatError(parse('{"w":'), 'not valid JSON')
    expectFormatError(parse('\uFEFF' + ok), 'not valid JSON')
  })
  it('a header that is not an object', () => {
    expectFormatError(parse('[1,2]', []), 'header must be a JSON object, found array')
    expectFormatError(parse('42', []), 'found number 42')
    expectFormatError(parse('null', []), 'found null')
  })
  it('__metadata__ that is not an object of strings', () => {
    expectFormatError(parse('{"__metadata__":[],"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), '__metadata__ must be an object of strings, found array')
    expectFormatError(parse('{"__metadata__":{"a":"b","n":3}}', []), "__metadata__ value of 'n' must be a string, found number 3")
  })
  it('an entry that is not an object', () => {
    expectFormatError(parse('{"w":[1]}', []), "tensor 'w': header entry must be an object")
  })
  it('an entry with a missing or an extra field', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":[2]')), 'missing data_offsets')
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]')), "unexpected 'offsets'")
  })
  it('a dtype that is not a string', () => {
    expectFormatError(parse(entry('"dtype":4,"shape":[2],"data_offsets":[0,8]')), "tensor 'w': dtype must be a string, found number 4")
  })
  it('an unsupported dtype, naming the tensor and listing the supported ones', () => {
    const e = expectFormatError(parse(entry('"dtype":"F64","shape":[1],"data_offsets":[0,8]')), "tensor 'w': unsupported dtype 'F64'")
    expect(e.message).toContain(`supported: ${ST_DTYPES.join(', ')}`)
    expectFormatError(parse(entry('"dtype":"f32","shape":[2],"data_offsets":[0,8]')), "unsupported dtype 'f32'")
  })
  it('a shape that is not an array of non-negative safe integers', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":2,"data_offsets":[0,8]')), "tensor 'w': shape must be an array")
    expectFormatError(parse(entry('"dtype":"F32","shape":[-2],"data_offsets":[0,8]')), 'shape[0] must be an integer >= 0 (safe integer), found number -2')
    expectFormatError(parse(entry('"dtype":"F32","shape":[1,1.5],"data_offsets":[0,8]')), 'shape[1] must be an integer')
    expectFormatError(parse(entry('"dtype":"F32","shape":["2"],"data_offsets":[0,8]')), 'found string "2"')
    expectFormatError(parse(entry('"dtype":"F32","shape":[1e300],"data_offsets":[0,8]')), 'shape[0] must be an integer')
  })
  it('data_offsets that are not two non-negative safe integers in order', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":[0]')), "tensor 'w': data_offsets must be [begin, end]")
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":{"a":1}')), 'data_offsets must be [begin, end]')
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":[-8,0]')), 'data_offsets must be two integers >= 0')
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":[0,"8"]')), 'data_offsets must be two integers >= 0')
    expectFormatError(parse(entry('"dtype":"F32","shape":[2],"data_offsets":[8,0]')), 'data_offsets [8, 0] end before they begin')
  })
  it('data_offsets past the data section', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":[4],"data_offsets":[0,16]')), 'run past the end of the data section (8 bytes;')
  })
  it('a byte span that does not match shape × dtype size', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":[3],"data_offsets":[0,8]')), "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8")
    expectFormatError(parse(entry('"dtype":"F16","shape":[2],"data_offsets":[0,8]')), 'needs 4 bytes')
  })
  it('a shape too large to address', () => {
    expectFormatError(parse(entry('"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]')), 'too many elements to address')
  })
  it('a gap, an overlap, or data not starting at 0', () => {
    const two = (a: string, b: string) => `{"a":{"dtype":"F32","shape":[1],"data_offsets":${a}},"b":{"dtype":"F32","shape":[1],"data_offsets":${b}}}`
    expectFormatError(parse(two('[0,4]', '[8,12]'), new Uint8Array(12)), "tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes after tensor 'a'")
    expectFormatError(parse(two('[0,4]', '[2,6]'), new Uint8Array(6)), "tensor 'b': data_offsets [2, 6] overlap tensor 'a'")
    expectFormatError(parse(two('[0,4]', '[0,4]'), new Uint8Array(4)), 'overlap')
    expectFormatError(parse(entry('"dtype":"F32","shape":[1],"data_offsets":[4,8]')), 'gap of 4 bytes after the start of the data section')
  })
  it('trailing bytes or a data section the tensors do not cover', () => {
    expectFormatError(parse(ok, [...okData, 0, 0, 0, 0]), "the header's tensors cover 8 bytes but the data section holds 12 bytes")
    expectFormatError(parse('{}', [1]), 'cover 0 bytes but the data section holds 1')
  })
  it('duplicate keys, which JSON.parse would silently drop', () => {
    const w = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
    expectFormatError(parse(`{"w":${w},"w":${w}}`), "header has the key 'w' twice")
    expectFormatError(parse(`{"w":${w},"\\u0077":${w}}`), "header has the key 'w' twice") // same key, escaped
    expectFormatError(parse(entry('"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]')), "header entry 'w' has the key 'dtype' twice")
    expectFormatError(parse(`{"__metadata__":{"a":"1","a":"2"},"w":${w}}`), "header entry '__metadata__' has the key 'a' twice")
    // Keys that only look alike are fine, and so are equal strings used as values.
    expect(parseSafetensors(rawFile(`{"w":${w},"w ":${w.replace('[0,8]', '[8,16]')},"__metadata__":{"x":"w","y":"w"}}`, new Uint8Array(16)), 'f').tensors.size).toBe(2)
  })
  it('an I64 value outside the int32 range', () => {
    const data = new Uint8Array(16)
    new DataView(data.buffer).setBigInt64(8, 2n ** 40n, true)
    expectFormatError(parse('{"p":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', data), "tensor 'p' (I64) has the value 1099511627776 at flat index 1, outside the int32 range")
  })
  it('a huge declared shape before allocating anything', () => {
    // 1e12 floats would be 4 TB; the check against the 8-byte data section must come first.
    expectFormatError(parse(entry('"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]')), 'run past the end of the data section')
    expectFormatError(parse(entry('"dtype":"F32","shape":[1000000000000],"data_offsets":[0,8]')), 'needs 4000000000000 bytes')
  })
})

describe('file reading and writing', () => {
  let dir: string
  beforeEach(() => {
    dir = makeTemp()
  })
  afterEach(() => removeTemp(dir))

  it('writes atomically and reads back tensor by tensor', () => {
    const file = path.join(dir, 'model.safetensors')
    const tensors = {
      'h.0.w': {shape: [2, 3], data: F32([1, 2, 3, 4, 5, 6])},
      'h.0.b': {shape: [3], data: F32([0.1, 0.2, 0.3]), dtype: 'BF16' as const},
      pos: {shape: [4], data: Int32Array.of(0, 1, 2, 3), dtype: 'I64' as const},
    }
    writeSafetensors(file, tensors, {metadata: {ligo: '1'}})
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors'])
    expect(Buffer.from(fs.readFileSync(file)).equals(Buffer.from(serializeSafetensors(tensors, {metadata: {ligo: '1'}})))).toBe(true)
    const got = readSafetensors(file)
    expect(got).toEqual(parseSafetensors(fs.readFileSync(file), file))
    expect(got.metadata).toEqual({ligo: '1'})
    expect(got.tensors.get('h.0.w')?.data).toEqual(F32([1, 2, 3, 4, 5, 6]))
    expect([...readSafetensors(file, {only: ['pos']}).tensors.keys()]).toEqual(['pos'])

    const header = readSafetensorsHeader(file)
    expect(header.dataOffset % 8).toBe(0)
    expect(header.entries.get('pos')).toEqual({dtype: 'I64', shape: [4], begin: 0, end: 32})
    expect(header.entries.get('h.0.w')).toEqual({dtype: 'F32', shape: [2, 3], begin: 32, end: 56})
    expect(header.entries.get('h.0.b')).toEqual({dtype: 'BF16', shape: [3], begin: 56, end: 62})
  })

  it('rejects a huge declared shape from a file without allocating it', () => {
    const file = path.join(dir, 'huge.safetensors')
    fs.writeFileSync(file, rawFile('{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}', new Uint8Array(8)))
    expectFormatError(() => readSafetensors(file), 'run past the end of the data section (8 bytes;')
    expectFormatError(() => readSafetensorsHeader(file), 'run past the end')
  })

  it('reports truncated files, missing files and directories', () => {
    const file = path.join(dir, 't.safetensors')
    const bytes = serializeSafetensors({w: {shape: [4], data: F32([1, 2, 3, 4])}})
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 1))
    expectFormatError(() => readSafetensors(file), "tensor 'w': data_offsets [0, 16] run past the end of the data section (15 bytes; is the file truncated?)")
    fs.writeFileSync(file, bytes.subarray(0, 20))
    expectFormatError(() => readSafetensors(file), 'runs past the end of the file (20 bytes')
    fs.writeFileSync(file, bytes.subarray(0, 5))
    expectFormatError(() => readSafetensorsHeader(file), 'too short')
    const missing = thrown(() => readSafetensors(path.join(dir, 'nope.safetensors')))
    expect(missing).toBeInstanceOf(InputError)
    expect((missing as Error).message).toContain('nope.safetensors: no such file')
    expect(thrown(() => readSafetensors(dir))).toBeInstanceOf(InputError)
  })
})

describe('readShardedSafetensors', () => {
  let dir: string
  beforeEach(() => {
    dir = makeTemp()
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), {a: {shape: [1], data: F32([1])}, b: {shape: [2], data: F32([2, 3])}}, {metadata: {format: 'pt'}})
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), {c: {shape: [1], data: F32([4])}, extra: {shape: [1], data: F32([5])}}, {metadata: {format: 'np', x: 'y'}})
  })
  afterEach(() => removeTemp(dir))

  const writeIndex = (weightMap: Record<string, unknown>) =>
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({metadata: {total_size: 16}, weight_map: weightMap}))
  const map = {a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors'}

  it('reads the tensors the weight map lists, from the files it names', () => {
    writeIndex(map)
    const got = readShardedSafetensors(dir)
    expect([...got.tensors.keys()]).toEqual(['a', 'b', 'c'])
    expect(got.tensors.get('b')?.data).toEqual(F32([2, 3]))
    expect(got.tensors.get('c')?.data).toEqual(F32([4]))
    expect(got.metadata).toEqual({format: 'pt', x: 'y'})
    expect([...readShardedSafetensors(dir, {only: ['c']}).tensors.keys()]).toEqual(['c'])
  })

  it('lists every tensor missing from its shard in one error', () => {
    writeIndex({...map, a: 'model-00002-of-00002.safetensors', z: 'model-00001-of-00002.safetensors'})
    const e = expectFormatError(() => readShardedSafetensors(dir), '2 tensor(s) listed in weight_map are not in their shard')
    expect(e.message).toContain("'a' (expected in model-00002-of-00002.safetensors)")
    expect(e.message).toContain("'z' (expected in model-00001-of-00002.safetensors)")
  })

  it('lists missing shard files, rejects paths outside the directory and bad indexes', () => {
    writeIndex({...map, d: 'model-00003.safetensors', e: 'model-00004.safetensors'})
    expectFormatError(() => readShardedSafetensors(dir), "2 shard file(s) missing from")
    writeIndex({...map, d: '../model.safetensors'})
    expectFormatError(() => readShardedSafetensors(dir), "weight_map['d'] = \"../model.safetensors\" must be a plain file name")
    writeIndex({...map, d: 3})
    expectFormatError(() => readShardedSafetensors(dir), "weight_map['d'] must be a file name, found number 3")
    writeIndex(map)
    expectFormatError(() => readShardedSafetensors(dir, {only: ['a', 'q']}), "weight_map does not list 1 requested tensor(s): 'q'")
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": [1]}')
    expectFormatError(() => readShardedSafetensors(dir), 'expected an object with a "weight_map" object, found array')
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": {"a": "x", "a": "y"}}')
    expectFormatError(() => readShardedSafetensors(dir), "the key 'a' occurs twice in 'weight_map'")
    fs.rmSync(path.join(dir, 'model.safetensors.index.json'))
    expect(thrown(() => readShardedSafetensors(dir))).toBeInstanceOf(InputError)
  })
})
