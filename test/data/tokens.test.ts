import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {FileFormatError, InputError} from '../../src/errors.js'
import {openTokenFile, TOKEN_FILE_HEADER_BYTES, TokenFileWriter, writeTokenFile} from '../../src/data/tokens.js'

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-tokens-'))
})
afterAll(() => {
  fs.rmSync(dir, {recursive: true, force: true})
})

function tmp(name: string): string {
  return path.join(dir, name)
}

describe('token files', () => {
  it('round-trips 2-byte tokens and lays out the header as specified', async () => {
    const file = tmp('bytes.bin')
    const tokens = Array.from({length: 1000}, (_, i) => (i * 37) % 256)
    const info = await writeTokenFile(file, tokens, 256)
    expect(info).toMatchObject({count: 1000, vocabSize: 256, bytesPerToken: 2})

    const raw = fs.readFileSync(file)
    expect(raw.length).toBe(64 + 2 * 1000)
    expect(raw.subarray(0, 8).toString('ascii')).toBe('LIGOTOK1')
    expect(raw.readUInt32LE(8)).toBe(1)
    expect(raw.readUInt32LE(12)).toBe(2)
    expect(raw.readUInt32LE(16)).toBe(256)
    expect(raw.readBigUInt64LE(24)).toBe(1000n)
    expect(raw.subarray(32, 64).every((b) => b === 0)).toBe(true)
    expect(raw.readUInt16LE(64 + 2 * 3)).toBe(tokens[3])
    expect(info.sha256).toBe(createHash('sha256').update(raw.subarray(TOKEN_FILE_HEADER_BYTES)).digest('hex'))

    const tf = openTokenFile(file)
    expect(tf.length).toBe(1000)
    expect(tf.vocabSize).toBe(256)
    expect(Array.from(tf.read(0, 1000))).toEqual(tokens)
    expect(Array.from(tf.read(997, 3))).toEqual(tokens.slice(997))
    expect(tf.read(5, 0).length).toBe(0)
    const out = new Int32Array(16).fill(-7)
    const view = tf.read(10, 4, out)
    expect(Array.from(view)).toEqual(tokens.slice(10, 14))
    expect(view.buffer).toBe(out.buffer)
    expect(out[4]).toBe(-7)
    tf.close()
    expect(() => tf.read(0, 1)).toThrow(/closed/)
  })

  it('uses 4-byte tokens above vocab 65536 and streams chunks from an async iterable', async () => {
    const file = tmp('big-vocab.bin')
    const vocab = 70_000
    async function* chunks() {
      for (let c = 0; c < 7; c++) yield Int32Array.from({length: 1001}, (_, i) => (c * 1001 + i) * 9 % vocab)
    }
    const info = await writeTokenFile(file, chunks(), vocab)
    expect(info).toMatchObject({count: 7007, bytesPerToken: 4})
    expect(fs.statSync(file).size).toBe(64 + 4 * 7007)
    const tf = openTokenFile(file)
    const all = tf.read(0, 7007)
    for (let i = 0; i < 7007; i += 500) expect(all[i]).toBe((i * 9) % vocab)
    expect(all[7006]).toBe((7006 * 9) % vocab)
    tf.close()
  })

  it('flushes across its buffer boundary and replaces an existing file atomically', async () => {
    const file = tmp('small-buffer.bin')
    fs.writeFileSync(file, 'old contents')
    const w = new TokenFileWriter(file, 300, {bufferTokens: 3})
    for (let i = 0; i < 10; i++) w.write([i, 299 - i])
    expect(fs.readFileSync(file, 'utf8')).toBe('old contents') // untouched until finish
    w.finish()
    const tf = openTokenFile(file)
    expect(Array.from(tf.read(0, 20))).toEqual(Array.from({length: 10}, (_, i) => [i, 299 - i]).flat())
    tf.close()
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('refuses out-of-range tokens on write and leaves nothing behind', async () => {
    const file = tmp('bad-write.bin')
    await expect(writeTokenFile(file, [1, 2, 256], 256)).rejects.toThrow(/token 256 at index 2 is not an integer in \[0, 256\)/)
    await expect(writeTokenFile(file, [-1], 256)).rejects.toThrow(InputError)
    await expect(writeTokenFile(file, [1.5], 256)).rejects.toThrow(InputError)
    expect(fs.existsSync(file)).toBe(false)
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    expect(() => new TokenFileWriter(file, 0)).toThrow(InputError)
    expect(() => new TokenFileWriter(path.join(dir, 'no-dir', 'x.bin'), 256)).toThrow(/cannot create token file/)
  })

  it('accepts an array of chunks as well as one array', async () => {
    const file = tmp('chunks.bin')
    const info = await writeTokenFile(file, [[1, 2], Int32Array.of(3), []], 256)
    expect(info.count).toBe(3)
    const tf = openTokenFile(file)
    expect(Array.from(tf.read(0, 3))).toEqual([1, 2, 3])
    tf.close()
  })

  it('rejects corrupt, truncated and foreign files with a FileFormatError naming the file', async () => {
    const good = tmp('good.bin')
    await writeTokenFile(good, Array.from({length: 100}, (_, i) => i), 256)
    const raw = fs.readFileSync(good)
    const variant = (name: string, mutate: (b: Buffer) => Buffer) => {
      const f = tmp(name)
      fs.writeFileSync(f, mutate(Buffer.from(raw)))
      return f
    }
    const cases: Array<[string, RegExp]> = [
      [variant('truncated.bin', (b) => b.subarray(0, b.length - 1)), /263 bytes but the header says 100 tokens × 2 bytes \+ 64 = 264 bytes/],
      [variant('extra.bin', (b) => Buffer.concat([b, Buffer.from([0, 0])])), /266 bytes but the header says/],
      [variant('short.bin', (b) => b.subarray(0, 10)), /shorter than the 64-byte header/],
      [variant('magic.bin', (b) => (b.write('NOTATOK1', 0, 'ascii'), b)), /bad magic "NOTATOK1"/],
      [variant('version.bin', (b) => (b.writeUInt32LE(2, 8), b)), /unsupported version 2/],
      [variant('bpt.bin', (b) => (b.writeUInt32LE(4, 12), b)), /bytes per token is 4, expected 2/],
      [variant('vocab0.bin', (b) => (b.writeUInt32LE(0, 16), b)), /vocab size 0/],
      [variant('count.bin', (b) => (b.writeBigUInt64LE(2n ** 60n, 24), b)), /token count|bytes but the header says/],
    ]
    for (const [file, msg] of cases) {
      let err: unknown
      try {
        openTokenFile(file)
      } catch (e) {
        err = e
      }
      expect(err, file).toBeInstanceOf(FileFormatError)
      expect((err as FileFormatError).file).toBe(file)
      expect((err as Error).message).toContain(file)
      expect((err as Error).message).toMatch(msg)
    }
    expect(() => openTokenFile(tmp('missing.bin'))).toThrow(/no such token file/)
  })

  it('checks tokens against the vocab on read', () => {
    const f = tmp('oob.bin')
    const raw = fs.readFileSync(tmp('good.bin'))
    raw.writeUInt32LE(50, 16) // vocab 50, but tokens go up to 99
    fs.writeFileSync(f, raw)
    const tf = openTokenFile(f)
    expect(Array.from(tf.read(0, 50))).toEqual(Array.from({length: 50}, (_, i) => i))
    expect(() => tf.read(40, 20)).toThrow(FileFormatError)
    expect(() => tf.read(40, 20)).toThrow(/token 50 at index 50 is out of range for vocab size 50/)
    expect(() => tf.read(95, 10)).toThrow(/outside \[0, 100\)/)
    expect(() => tf.read(-1, 1)).toThrow(InputError)
    expect(() => tf.read(0, 5, new Int32Array(4))).toThrow(/holds 4 tokens, need 5/)
    tf.close()
  })
})
