/**
 * Token files: a 64-byte header, then the tokens as little-endian unsigned integers.
 *
 *   offset  size  field
 *        0     8  magic "LIGOTOK1" (ASCII)
 *        8     4  version, u32 = 1
 *       12     4  bytes per token, u32: 2 when vocab ≤ 65536, else 4
 *       16     4  vocab size, u32 (1 ≤ vocab ≤ 2^31 − 1, so tokens fit an Int32Array)
 *       20     4  reserved, 0
 *       24     8  token count, u64
 *       32    32  reserved, 0
 *       64     …  tokens
 *
 * The file length must be exactly 64 + count · bytesPerToken. Writers write a temporary file, fsync it and
 * rename it over the target, so a reader never sees a half-written file. Readers read at offsets with
 * `fs.readSync` and never load the whole file.
 */
import {createHash, randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {ioError} from '../checkpoints/atomic.js'
import {FileFormatError, InputError} from '../errors.js'

export const TOKEN_FILE_MAGIC = 'LIGOTOK1'
export const TOKEN_FILE_VERSION = 1
export const TOKEN_FILE_HEADER_BYTES = 64
export const MAX_VOCAB_SIZE = 2 ** 31 - 1

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export interface TokenFile {
  readonly path: string
  /** Number of tokens. */
  readonly length: number
  readonly vocabSize: number
  readonly bytesPerToken: 2 | 4
  /** Tokens [start, start + count) as int32. Fills `out` (length ≥ count) when given and returns its prefix view. */
  read(start: number, count: number, out?: Int32Array): Int32Array
  close(): void
}

export interface TokenFileInfo {
  path: string
  count: number
  vocabSize: number
  bytesPerToken: 2 | 4
  /** sha256 (hex) of the token bytes after the header. */
  sha256: string
}

export function bytesPerTokenFor(vocabSize: number): 2 | 4 {
  return vocabSize <= 65536 ? 2 : 4
}

/**
 * Writes a token file incrementally: `write` chunks, then `finish` (fsync + atomic rename) or `abort`.
 * Tokens are checked against the vocab as they are written.
 */
export class TokenFileWriter {
  readonly path: string
  readonly vocabSize: number
  readonly bytesPerToken: 2 | 4
  private readonly tmp: string
  private fd: number | null
  private count = 0
  private readonly hash = createHash('sha256')
  private readonly buf: Buffer
  private fill = 0 // bytes used in buf
  private pos = TOKEN_FILE_HEADER_BYTES // file offset of the next flush

  constructor(file: string, vocabSize: number, opts: {bufferTokens?: number} = {}) {
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_VOCAB_SIZE) {
      throw new InputError(`${file}: vocab size ${vocabSize}: expected an integer in [1, ${MAX_VOCAB_SIZE}]`)
    }
    this.path = file
    this.vocabSize = vocabSize
    this.bytesPerToken = bytesPerTokenFor(vocabSize)
    this.buf = Buffer.alloc(Math.max(1, opts.bufferTokens ?? 1 << 20) * this.bytesPerToken)
    this.tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      this.fd = fs.openSync(this.tmp, 'wx')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw ioError(file, 'create', err) // disk full, permissions: said so
      throw new InputError(`${file}: cannot create token file (${code}); does its directory exist?`, {cause: err})
    }
    try {
      fs.writeSync(this.fd, Buffer.alloc(TOKEN_FILE_HEADER_BYTES), 0, TOKEN_FILE_HEADER_BYTES, 0) // header goes in at finish
    } catch (err) {
      this.abort()
      throw ioError(file, 'write', err)
    }
  }

  /** Tokens written so far. */
  get length(): number {
    return this.count
  }

  write(tokens: ArrayLike<number>): void {
    const fd = this.openFd()
    const bpt = this.bytesPerToken
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) {
        this.abort()
        throw new InputError(`${this.path}: token ${t} at index ${this.count + i} is not an integer in [0, ${this.vocabSize})`)
      }
      if (bpt === 2) this.buf.writeUInt16LE(t, this.fill)
      else this.buf.writeUInt32LE(t, this.fill)
      this.fill += bpt
      if (this.fill === this.buf.length) {
        try {
          this.flush(fd)
        } catch (err) {
          this.abort()
          throw ioError(this.path, 'write', err)
        }
      }
    }
    this.count += tokens.length
  }

  /** Writes the header, fsyncs and renames the file into place. */
  finish(): TokenFileInfo {
    const fd = this.openFd()
    try {
      this.flush(fd)
      fs.writeSync(fd, encodeHeader(this.bytesPerToken, this.vocabSize, this.count), 0, TOKEN_FILE_HEADER_BYTES, 0)
      fs.fsyncSync(fd)
      fs.closeSync(fd)
      this.fd = null
      fs.renameSync(this.tmp, this.path)
      fsyncDir(path.dirname(this.path))
    } catch (err) {
      this.abort()
      throw ioError(this.path, 'write', err) // ENOSPC etc. get the project's message (LigoErrors pass through)
    }
    return {path: this.path, count: this.count, vocabSize: this.vocabSize, bytesPerToken: this.bytesPerToken, sha256: this.hash.digest('hex')}
  }

  /** Drops the temporary file; the target is untouched. Safe to call more than once. */
  abort(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd)
      } catch {
        // already closed
      }
      this.fd = null
    }
    fs.rmSync(this.tmp, {force: true})
  }

  private openFd(): number {
    if (this.fd === null) throw new InputError(`${this.path}: token writer is already finished or aborted`)
    return this.fd
  }

  private flush(fd: number): void {
    if (this.fill === 0) return
    const chunk = this.buf.subarray(0, this.fill)
    this.hash.update(chunk)
    let off = 0
    while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off, this.pos + off)
    this.pos += chunk.length
    this.fill = 0
  }
}

/**
 * Writes `tokens` (one array, or an iterable / async iterable of chunks) to `file` atomically.
 */
export async function writeTokenFile(
  file: string,
  tokens: ArrayLike<number> | Iterable<ArrayLike<number>> | AsyncIterable<ArrayLike<number>>,
  vocabSize: number,
): Promise<TokenFileInfo> {
  const writer = new TokenFileWriter(file, vocabSize)
  try {
    if (isTokenArray(tokens)) {
      writer.write(tokens)
    } else if (Symbol.asyncIterator in Object(tokens)) {
      for await (const chunk of tokens as AsyncIterable<ArrayLike<number>>) writer.write(chunk)
    } else {
      for (const chunk of tokens as Iterable<ArrayLike<number>>) writer.write(chunk)
    }
  } catch (err) {
    writer.abort()
    throw err
  }
  return writer.finish()
}

/** Opens a token file for random access, validating its header and length. */
export function openTokenFile(file: string): TokenFile {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new InputError(`${file}: no such token file`, {cause: err})
    throw new InputError(`${file}: cannot open token file (${code ?? String(err)})`, {cause: err})
  }
  try {
    const header = readHeader(fd, file)
    return new TokenFileReader(fd, file, header)
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
}

interface Header {
  bytesPerToken: 2 | 4
  vocabSize: number
  count: number
}

function encodeHeader(bytesPerToken: number, vocabSize: number, count: number): Buffer {
  const h = Buffer.alloc(TOKEN_FILE_HEADER_BYTES)
  h.write(TOKEN_FILE_MAGIC, 0, 'ascii')
  h.writeUInt32LE(TOKEN_FILE_VERSION, 8)
  h.writeUInt32LE(bytesPerToken, 12)
  h.writeUInt32LE(vocabSize, 16)
  h.writeBigUInt64LE(BigInt(count), 24)
  return h
}

function readHeader(fd: number, file: string): Header {
  const stat = fs.fstatSync(fd)
  // A directory opens fine on Linux and only fails at the first read (EISDIR): say what is wrong instead.
  if (!stat.isFile()) throw new FileFormatError(file, `not a regular file (${stat.isDirectory() ? 'a directory' : 'a device, pipe or socket'}): expected a ligo token file`)
  const size = stat.size
  const bad = (msg: string) => new FileFormatError(file, `${msg}; not a valid ligo token file (re-run \`npx ligo data prepare --force\`)`)
  if (size < TOKEN_FILE_HEADER_BYTES) throw bad(`file is ${size} bytes, shorter than the ${TOKEN_FILE_HEADER_BYTES}-byte header`)
  const h = Buffer.alloc(TOKEN_FILE_HEADER_BYTES)
  fs.readSync(fd, h, 0, TOKEN_FILE_HEADER_BYTES, 0)
  const magic = h.subarray(0, 8).toString('latin1')
  if (magic !== TOKEN_FILE_MAGIC) throw bad(`bad magic ${JSON.stringify(magic)}, expected "${TOKEN_FILE_MAGIC}"`)
  const version = h.readUInt32LE(8)
  if (version !== TOKEN_FILE_VERSION) throw bad(`unsupported version ${version}, expected ${TOKEN_FILE_VERSION}`)
  const bpt = h.readUInt32LE(12)
  const vocabSize = h.readUInt32LE(16)
  if (vocabSize < 1 || vocabSize > MAX_VOCAB_SIZE) throw bad(`vocab size ${vocabSize} is outside [1, ${MAX_VOCAB_SIZE}]`)
  if (bpt !== bytesPerTokenFor(vocabSize)) throw bad(`bytes per token is ${bpt}, expected ${bytesPerTokenFor(vocabSize)} for vocab size ${vocabSize}`)
  const count64 = h.readBigUInt64LE(24)
  if (count64 > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`token count ${count64} is too large`)
  const count = Number(count64)
  const expected = TOKEN_FILE_HEADER_BYTES + count * bpt
  if (size !== expected) {
    throw bad(`file is ${size} bytes but the header says ${count} tokens × ${bpt} bytes + ${TOKEN_FILE_HEADER_BYTES} = ${expected} bytes (truncated or corrupt)`)
  }
  return {bytesPerToken: bpt, vocabSize, count}
}

class TokenFileReader implements TokenFile {
  readonly path: string
  readonly length: number
  readonly vocabSize: number
  readonly bytesPerToken: 2 | 4
  private fd: number | null
  private scratch = new ArrayBuffer(0)

  constructor(fd: number, file: string, header: Header) {
    this.fd = fd
    this.path = file
    this.length = header.count
    this.vocabSize = header.vocabSize
    this.bytesPerToken = header.bytesPerToken
  }

  read(start: number, count: number, out?: Int32Array): Int32Array {
    if (this.fd === null) throw new InputError(`${this.path}: token file is closed`)
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > this.length) {
      throw new InputError(`${this.path}: read of ${count} tokens at ${start} is outside [0, ${this.length})`)
    }
    if (out !== undefined && out.length < count) throw new InputError(`${this.path}: output buffer holds ${out.length} tokens, need ${count}`)
    const dst = out === undefined ? new Int32Array(count) : out.subarray(0, count)
    const nbytes = count * this.bytesPerToken
    if (this.scratch.byteLength < nbytes) this.scratch = new ArrayBuffer(Math.max(nbytes, this.scratch.byteLength * 2))
    const bytes = new Uint8Array(this.scratch, 0, nbytes)
    let got = 0
    while (got < nbytes) {
      const n = fs.readSync(this.fd, bytes, got, nbytes - got, TOKEN_FILE_HEADER_BYTES + start * this.bytesPerToken + got)
      if (n === 0) throw new FileFormatError(this.path, `unexpected end of file reading tokens ${start}..${start + count} (file changed while open?)`)
      got += n
    }
    if (LITTLE_ENDIAN) {
      dst.set(this.bytesPerToken === 2 ? new Uint16Array(this.scratch, 0, count) : new Uint32Array(this.scratch, 0, count))
    } else {
      const view = new DataView(this.scratch, 0, nbytes)
      for (let i = 0; i < count; i++) dst[i] = this.bytesPerToken === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true)
    }
    // A u32 ≥ 2^31 shows up negative in the Int32Array; one check catches it and ids ≥ vocab.
    const vocab = this.vocabSize
    for (let i = 0; i < count; i++) {
      const t = dst[i]
      if (t < 0 || t >= vocab) {
        throw new FileFormatError(this.path, `token ${t >>> 0} at index ${start + i} is out of range for vocab size ${vocab} (corrupt file?)`)
      }
    }
    return dst
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd)
    this.fd = null
  }
}

function isTokenArray(x: unknown): x is ArrayLike<number> {
  if (ArrayBuffer.isView(x)) return !(x instanceof DataView)
  return Array.isArray(x) && (x.length === 0 || typeof x[0] === 'number')
}

/** fsync a directory so a rename in it is durable; not supported everywhere, so failures are ignored. */
function fsyncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // e.g. Windows cannot open directories
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
