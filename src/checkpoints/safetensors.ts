/**
 * Strict safetensors reader and writer (no dependencies).
 *
 * Format (huggingface/safetensors README and `tensor.rs`):
 *   [0, 8)        N: u64 little-endian, the header length
 *   [8, 8+N)      UTF-8 JSON object: {"__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end]}}
 *   [8+N, EOF)    tensor bytes, C order, little-endian; offsets are relative to byte 8+N, `end` exclusive
 *
 * The reader checks everything the reference does and a bit more: 2 <= N <= 100 MB and within the file; the
 * header is UTF-8 JSON with no duplicate keys; every entry has exactly dtype/shape/data_offsets with the right
 * types; the dtype is supported; end-begin == prod(shape)·size(dtype); the tensors, sorted by offset, tile the
 * data section from 0 to the end of the file with no gap or overlap. Every failure is a `FileFormatError`
 * naming the tensor or field with expected vs found. Sizes are checked against the file size before anything
 * is allocated, so a corrupt header cannot make the reader allocate more than the file holds.
 *
 * The writer is byte-deterministic and matches the reference's layout: tensors ordered by descending dtype
 * (the reference's alignment order) then name, `__metadata__` first (keys sorted), compact JSON padded with
 * spaces to a multiple of 8 so the data section starts 8-byte aligned.
 *
 * F16 and BF16 are decoded to Float32Array (and encoded from it with round-to-nearest-even); I64 is decoded to
 * Int32Array when every value fits, and is an error otherwise.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {FileFormatError, InputError, LigoError, preview} from '../errors.js'
import {AtomicFile, errnoCode, ioError, writeFileAtomic} from './atomic.js'

export type StDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8'
export type StFloatDtype = 'F32' | 'F16' | 'BF16'
export type StData = Float32Array | Int32Array | Uint8Array

/** The dtypes this reader accepts, in the order error messages list them. */
export const ST_DTYPES: readonly StDtype[] = ['F32', 'F16', 'BF16', 'I32', 'I64', 'U8']
/** The reference reader's limit on the header length N. */
export const MAX_HEADER_SIZE = 100_000_000
/**
 * Limits on the header's structure, checked by a linear scan before JSON.parse so that a hostile header is
 * refused in O(N) time and O(1) memory (JSON.parse of 1.5 M tiny entries takes 12 s and 2 GB): at most this
 * many tensors per file (the largest file ligo writes, CAME's state for a 1024-layer model, has ~82k; real
 * Hugging Face shards hold hundreds), a shape of at most MAX_RANK dimensions, and no nesting beyond a header's
 * own three levels (root → entry → shape/data_offsets).
 */
export const MAX_HEADER_ENTRIES = 131_072
export const MAX_RANK = 64
/** The index file of a sharded Hugging Face checkpoint. */
export const SHARD_INDEX_FILE = 'model.safetensors.index.json'

const DTYPE_SIZE: Record<StDtype, number> = {F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1}
/** Position in the reference's `Dtype` enum (increasing alignment); its writer sorts by this, descending. */
const DTYPE_RANK: Record<StDtype, number> = {U8: 1, F16: 7, BF16: 8, I32: 9, F32: 11, I64: 13}
const FLOAT_DTYPES: ReadonlySet<StDtype> = new Set(['F32', 'F16', 'BF16'])
const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'] as const

/** A decoded tensor. `dtype` is the dtype in the file; F16/BF16 data is decoded to Float32Array. */
export interface StTensor {
  dtype: StDtype
  shape: number[]
  data: StData
}

/** A tensor to write. `dtype` (optional) picks the stored dtype; it must suit the array type. */
export interface StTensorInput {
  shape: readonly number[]
  data: StData
  dtype?: StDtype
}

export type StTensorsInput = ReadonlyMap<string, StTensorInput> | Readonly<Record<string, StTensorInput>>

export interface StFile {
  /** In file order (by data offset). */
  tensors: Map<string, StTensor>
  metadata: Record<string, string>
}

export interface StHeaderEntry {
  dtype: StDtype
  shape: number[]
  /** Byte offsets relative to the start of the data section (`dataOffset`); `end` is exclusive. */
  begin: number
  end: number
}

export interface StHeader {
  /** In file order (by data offset). */
  entries: Map<string, StHeaderEntry>
  metadata: Record<string, string>
  /** Absolute file offset of the data section: 8 + N. */
  dataOffset: number
}

export interface StReadOptions {
  /** Throw a FileFormatError on the first NaN or ±Inf in a float tensor. */
  checkFinite?: boolean
  /** Decode only these tensors; each must exist. */
  only?: readonly string[]
  /** readSafetensors: called after each tensor is read with the bytes read so far and the total to read. */
  onProgress?: (bytes: number, total: number) => void
}

export interface StWriteOptions {
  /** Free-form string metadata, stored as `__metadata__`. */
  metadata?: Readonly<Record<string, string>>
  /** Stored dtype for every Float32Array tensor (overrides a tensor's own `dtype`). Default: its own, or F32. */
  dtype?: StFloatDtype
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

// ---------------------------------------------------------------------------------------------------------------
// Reading

/** Parse a whole safetensors file held in memory. `label` names it in errors (usually its path). */
export function parseSafetensors(buf: Uint8Array, label: string, opts: StReadOptions = {}): StFile {
  if (buf.byteLength < 8) {
    throw new FileFormatError(label, `file is ${buf.byteLength} bytes, too short for the 8-byte header length`)
  }
  const n = checkHeaderLength(readU64(buf), buf.byteLength, label)
  const header = parseHeader(buf.subarray(8, 8 + n), label, buf.byteLength - 8 - n)
  const tensors = new Map<string, StTensor>()
  for (const [name, e] of selectEntries(header.entries, opts.only, label)) {
    const bytes = buf.subarray(header.dataOffset + e.begin, header.dataOffset + e.end)
    tensors.set(name, decodeTensor(name, e, bytes, label, false, opts.checkFinite ?? false))
  }
  return {tensors, metadata: header.metadata}
}

/**
 * Read a safetensors file: the header first (validated against the file size), then each selected tensor with
 * its own positioned read straight into the tensor's own buffer, which F32/I32/U8 data then views without a copy
 * (on little-endian hosts). The file is never read whole: peak memory is the tensors read (at most the file's
 * size) plus, for F16/BF16/I64, one tensor's raw bytes while it is decoded.
 */
export function readSafetensors(file: string, opts: StReadOptions = {}): StFile {
  return withFile(file, (fd, size) => {
    const header = readHeaderFd(fd, size, file)
    const tensors = new Map<string, StTensor>()
    const selected = selectEntries(header.entries, opts.only, file)
    const total = selected.reduce((n, [, e]) => n + e.end - e.begin, 0)
    let done = 0
    for (const [name, e] of selected) {
      const bytes = new Uint8Array(e.end - e.begin) // <= file size: checked by parseHeader
      readExact(fd, bytes, header.dataOffset + e.begin, file, name)
      tensors.set(name, decodeTensor(name, e, bytes, file, true, opts.checkFinite ?? false))
      done += e.end - e.begin
      opts.onProgress?.(done, total)
    }
    return {tensors, metadata: header.metadata}
  })
}

/** Read and validate only the header of a safetensors file (the file size is checked against it too). */
export function readSafetensorsHeader(file: string): StHeader {
  return withFile(file, (fd, size) => readHeaderFd(fd, size, file))
}

/**
 * Read a sharded Hugging Face checkpoint: `dir/model.safetensors.index.json` maps each tensor to a shard file
 * (`weight_map`). Every listed file must exist and hold the tensors the map assigns to it; all problems of a
 * kind are reported in one error. Tensors in a shard that the map does not list are ignored. `metadata` merges
 * the shards' `__metadata__` (the first shard in name order wins on conflicts).
 */
export function readShardedSafetensors(dir: string, opts: StReadOptions = {}): StFile {
  const indexPath = path.join(dir, SHARD_INDEX_FILE)
  const weightMap = readWeightMap(indexPath)
  const names = opts.only ?? [...weightMap.keys()]
  const unknown = names.filter((t) => !weightMap.has(t))
  if (unknown.length > 0) {
    throw new FileFormatError(indexPath, `weight_map does not list ${unknown.length} requested tensor(s): ${quoteList(unknown)}`)
  }
  const byFile = new Map<string, string[]>()
  for (const t of names) {
    const f = weightMap.get(t) as string
    const list = byFile.get(f) ?? []
    list.push(t)
    byFile.set(f, list)
  }
  const files = [...new Set(weightMap.values())].sort()
  const absent = files.filter((f) => !isFile(path.join(dir, f)))
  if (absent.length > 0) {
    throw new FileFormatError(indexPath, `weight_map names ${absent.length} shard file(s) missing from ${dir}: ${quoteList(absent)}`)
  }
  const missing: string[] = []
  for (const f of files) {
    const header = readSafetensorsHeader(path.join(dir, f))
    for (const t of byFile.get(f) ?? []) if (!header.entries.has(t)) missing.push(`'${t}' (expected in ${f})`)
  }
  if (missing.length > 0) {
    throw new FileFormatError(
      indexPath,
      `${missing.length} tensor(s) listed in weight_map are not in their shard: ${truncateList(missing)}`,
    )
  }
  const loaded = new Map<string, StTensor>()
  const metadata = new Map<string, string>()
  for (const f of files) {
    const wanted = byFile.get(f) ?? []
    const shard = readSafetensors(path.join(dir, f), {only: wanted, checkFinite: opts.checkFinite})
    for (const [k, v] of Object.entries(shard.metadata)) if (!metadata.has(k)) metadata.set(k, v)
    for (const [t, tensor] of shard.tensors) loaded.set(t, tensor)
  }
  const tensors = new Map<string, StTensor>()
  for (const t of names) tensors.set(t, loaded.get(t) as StTensor)
  return {tensors, metadata: Object.fromEntries(metadata)}
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** Serialize tensors to safetensors bytes (byte-deterministic for equal input). */
export function serializeSafetensors(tensors: StTensorsInput, opts: StWriteOptions = {}): Uint8Array {
  const chunks = prepare(tensors, opts)
  let total = 0
  for (const c of chunks) total += c.byteLength
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

/**
 * Write a safetensors file atomically (temp file, fsync, rename; see atomic.ts), one tensor at a time: F16/BF16/I64
 * encodings exist for one tensor at once, never for the whole file.
 */
export function writeSafetensors(file: string, tensors: StTensorsInput, opts: StWriteOptions = {}): void {
  const items = validate(tensors, opts)
  const w = SafetensorsWriter.create(file, items.map((it) => [it.name, {shape: it.shape, dtype: it.dtype}]), {metadata: opts.metadata})
  try {
    for (const it of items) w.write(it.name, it.data)
  } catch (err) {
    w.abort()
    throw err
  }
  w.close()
}

/** A tensor announced to `SafetensorsWriter` before its data exists. */
export interface StTensorSpec {
  shape: readonly number[]
  /** Stored dtype (default F32); the data written later must suit it as in `StTensorInput`. */
  dtype?: StDtype
}

export interface StStreamOptions {
  metadata?: Readonly<Record<string, string>>
  /** Called after each tensor is written with the bytes written so far and the file's size. */
  onProgress?: (bytes: number, total: number) => void
}

/**
 * A safetensors file written tensor by tensor, for files too large to hold whole: the header is laid out from
 * the tensors' names, shapes and dtypes up front, then each tensor's bytes go straight to their place in the file
 * (positioned writes, any order), and `close()` publishes it atomically once every tensor is written. Memory: one
 * tensor's encoding at a time (none for F32/I32/U8 on little-endian hosts). The bytes equal `serializeSafetensors`
 * of the same tensors.
 */
export class SafetensorsWriter {
  /** The size of the finished file. */
  readonly size: number
  private readonly entries: Map<string, {dtype: StDtype; shape: number[]; begin: number; end: number}>
  private readonly dataOffset: number
  private readonly pending: Set<string>
  private written = 0

  private constructor(
    private readonly out: AtomicFile,
    specs: [string, StTensorSpec][],
    private readonly opts: StStreamOptions,
  ) {
    const items = specs.map(([name, t]) => {
      const dtype = t.dtype ?? 'F32'
      if (!(ST_DTYPES as readonly string[]).includes(dtype)) throw new LigoError(`safetensors writer: tensor '${name}' has unknown dtype '${dtype}'`)
      const shape = checkShape(name, t.shape)
      return {name, dtype, shape, nbytes: numelOf(shape) * DTYPE_SIZE[dtype]}
    })
    if (new Set(items.map((it) => it.name)).size !== items.length) throw new LigoError('safetensors writer: a tensor name occurs twice')
    const layout = layoutFile(items, opts.metadata)
    this.entries = layout.entries
    this.dataOffset = layout.head.byteLength
    this.size = layout.head.byteLength + layout.dataBytes
    this.pending = new Set(this.entries.keys())
    this.out.write(layout.head, 0)
  }

  /** Opens `file`'s temp sibling and writes the header. */
  static create(file: string, specs: Iterable<[string, StTensorSpec]>, opts: StStreamOptions = {}): SafetensorsWriter {
    const list = [...specs]
    const out = AtomicFile.open(file)
    try {
      return new SafetensorsWriter(out, list, opts)
    } catch (err) {
      out.abort()
      throw err
    }
  }

  /** Writes one announced tensor (once), encoded in its announced dtype. */
  write(name: string, data: StData): void {
    const e = this.entries.get(name)
    if (!e) throw new LigoError(`safetensors writer: tensor '${name}' was not announced when the file was created`)
    if (!this.pending.has(name)) throw new LigoError(`safetensors writer: tensor '${name}' is written twice`)
    const dtype = storedDtype(name, {shape: e.shape, data, dtype: e.dtype}, undefined)
    const count = numelOf(e.shape)
    if (data.length !== count) {
      throw new LigoError(`safetensors writer: tensor '${name}' has shape [${e.shape.join(', ')}] (${count} elements) but ${data.length} values`)
    }
    this.out.write(encodeTensor({name, dtype, shape: e.shape, data}), this.dataOffset + e.begin)
    this.pending.delete(name)
    this.written += e.end - e.begin
    this.opts.onProgress?.(this.dataOffset + this.written, this.size)
  }

  /** Publishes the file; every announced tensor must have been written (otherwise nothing is published). */
  close(): void {
    if (this.pending.size > 0) {
      this.out.abort()
      throw new LigoError(`safetensors writer: ${this.pending.size} announced tensor(s) were never written: ${quoteList([...this.pending])}`)
    }
    this.out.commit()
  }

  /** Drops the unfinished file (idempotent). */
  abort(): void {
    this.out.abort()
  }
}

interface Prepared {
  name: string
  dtype: StDtype
  shape: number[]
  data: StData
}

/** Validate the input and lay out the file: [length+header, tensor bytes...], ready to concatenate. */
function prepare(input: StTensorsInput, opts: StWriteOptions): Uint8Array[] {
  const items = validate(input, opts)
  const bytes = new Map(items.map((it) => [it.name, encodeTensor(it)]))
  const layout = layoutFile(items.map((it) => ({...it, nbytes: bytes.get(it.name)!.byteLength})), opts.metadata)
  return [layout.head, ...[...layout.entries.keys()].map((name) => bytes.get(name)!)]
}

/** Every tensor to write checked (name, shape, value count, dtype) before anything is written. */
function validate(input: StTensorsInput, opts: StWriteOptions): Prepared[] {
  const entries: [string, StTensorInput][] =
    input instanceof Map ? [...(input as ReadonlyMap<string, StTensorInput>)] : Object.entries(input)
  return entries.map(([name, t]) => {
    const shape = checkShape(name, t.shape)
    const count = numelOf(shape)
    if (count !== t.data.length) {
      throw new LigoError(
        `safetensors writer: tensor '${name}' has shape [${shape.join(', ')}] (${count} elements) but ${t.data.length} values`,
      )
    }
    return {name, dtype: storedDtype(name, t, opts.dtype), shape, data: t.data}
  })
}

/** A tensor name and shape checked for writing; returns the shape as a fresh array. */
function checkShape(name: string, dims: readonly number[]): number[] {
  if (name === '__metadata__') throw new LigoError(`safetensors writer: '__metadata__' cannot be a tensor name`)
  const shape = [...dims]
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new LigoError(`safetensors writer: tensor '${name}' has shape [${shape.join(', ')}]; dims must be integers >= 0`)
    }
  }
  return shape
}

function numelOf(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/**
 * The file's layout: the length-prefixed header (tensors ordered by descending dtype, the reference's alignment
 * order, then name; `__metadata__` first with sorted keys; compact JSON padded with spaces to a multiple of 8)
 * and each tensor's data offsets, in file order.
 */
function layoutFile(
  items: {name: string; dtype: StDtype; shape: number[]; nbytes: number}[],
  metadata: Readonly<Record<string, string>> | undefined,
): {head: Uint8Array; entries: Map<string, {dtype: StDtype; shape: number[]; begin: number; end: number}>; dataBytes: number} {
  const sorted = [...items].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareUtf8(a.name, b.name))
  const parts: string[] = []
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const keys = Object.keys(metadata).sort(compareUtf8)
    const fields = keys.map((k) => {
      const v = (metadata as Record<string, unknown>)[k]
      if (typeof v !== 'string') throw new LigoError(`safetensors writer: __metadata__ value of '${k}' must be a string, found ${typeof v}`)
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`
    })
    parts.push(`"__metadata__":{${fields.join(',')}}`)
  }
  const entries = new Map<string, {dtype: StDtype; shape: number[]; begin: number; end: number}>()
  let offset = 0
  for (const it of sorted) {
    const end = offset + it.nbytes
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`)
    entries.set(it.name, {dtype: it.dtype, shape: it.shape, begin: offset, end})
    offset = end
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`)
  const n = Math.ceil(json.byteLength / 8) * 8
  const head = new Uint8Array(8 + n).fill(0x20, 8)
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true)
  head.set(json, 8)
  return {head, entries, dataBytes: offset}
}

function storedDtype(name: string, t: StTensorInput, floatDtype: StFloatDtype | undefined): StDtype {
  const data: unknown = t.data
  const kind =
    data instanceof Float32Array ? 'Float32Array' : data instanceof Int32Array ? 'Int32Array' : data instanceof Uint8Array ? 'Uint8Array' : ''
  if (kind === '') {
    throw new LigoError(`safetensors writer: tensor '${name}' data must be a Float32Array, Int32Array or Uint8Array`)
  }
  const allowed: readonly StDtype[] =
    kind === 'Float32Array' ? ['F32', 'F16', 'BF16'] : kind === 'Int32Array' ? ['I32', 'I64'] : ['U8']
  if (kind === 'Float32Array' && floatDtype !== undefined) return floatDtype
  const dtype = t.dtype ?? allowed[0]
  if (!allowed.includes(dtype)) {
    throw new LigoError(
      `safetensors writer: tensor '${name}' is a ${kind}, which cannot be stored as ${dtype} (use ${allowed.join(' or ')})`,
    )
  }
  return dtype
}

/** Little-endian bytes of one tensor in its stored dtype (a view, not a copy, where possible). */
function encodeTensor(t: Prepared): Uint8Array {
  const {data} = t
  switch (t.dtype) {
    case 'F32':
    case 'I32':
    case 'U8':
      return leBytes(data)
    case 'F16':
      return leBytes(f32ToF16(data as Float32Array))
    case 'BF16':
      return leBytes(f32ToBf16(data as Float32Array))
    case 'I64': {
      const out = new Uint8Array(data.length * 8)
      const view = new DataView(out.buffer)
      for (let i = 0; i < data.length; i++) {
        view.setInt32(i * 8, data[i], true)
        view.setInt32(i * 8 + 4, data[i] < 0 ? -1 : 0, true)
      }
      return out
    }
  }
}

/** The bytes of a typed array in little-endian order: a view on little-endian hosts, a swapped copy otherwise. */
function leBytes(a: StData | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  if (HOST_LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return bytes
  const out = new Uint8Array(bytes.byteLength)
  const w = a.BYTES_PER_ELEMENT
  for (let i = 0; i < out.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j]
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Header validation

function readU64(buf: Uint8Array): bigint {
  return new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true)
}

/** Check the declared header length N against the limits and the file size; returns N as a number. */
function checkHeaderLength(n: bigint, fileSize: number, label: string): number {
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new FileFormatError(
      label,
      `header length ${n} exceeds the limit of ${MAX_HEADER_SIZE} bytes (not a safetensors file, or corrupt)`,
    )
  }
  const len = Number(n)
  if (len < 2) throw new FileFormatError(label, `header length ${len} is too small: a JSON object needs at least 2 bytes`)
  if (8 + len > fileSize) {
    throw new FileFormatError(label, `header length ${len} runs past the end of the file (${fileSize} bytes; at most ${fileSize - 8} fit)`)
  }
  return len
}

/** Parse and validate the header JSON; `dataLen` is the size of the data section that follows it. */
function parseHeader(bytes: Uint8Array, label: string, dataLen: number): StHeader {
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true}).decode(bytes)
  } catch {
    throw new FileFormatError(label, 'header is not valid UTF-8')
  }
  checkStructure(text, label)
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (err) {
    throw new FileFormatError(label, `header is not valid JSON (${err instanceof Error ? err.message : String(err)})`)
  }
  if (!isPlainObject(root)) throw new FileFormatError(label, `header must be a JSON object, found ${describe(root)}`)
  const dup = findDuplicateKey(text)
  if (dup !== undefined) {
    throw new FileFormatError(
      label,
      dup.parent === undefined
        ? `header has the key '${dup.key}' twice (duplicate tensor names are not allowed)`
        : `header entry '${dup.parent}' has the key '${dup.key}' twice`,
    )
  }

  let metadata: Record<string, string> = {}
  const list: [string, StHeaderEntry][] = []
  for (const [name, value] of Object.entries(root)) {
    if (name === '__metadata__') metadata = checkMetadata(value, label)
    else list.push([name, checkEntry(name, value, label, dataLen)])
  }

  // Sorted by offsets, the tensors must tile [0, dataLen) exactly.
  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end)
  let expected = 0
  let prev: string | undefined
  for (const [name, e] of list) {
    const after = prev === undefined ? 'the start of the data section' : `tensor '${prev}' (which ends at ${expected})`
    if (e.begin > expected) {
      throw new FileFormatError(
        label,
        `tensor '${name}': data_offsets [${e.begin}, ${e.end}] leave a gap of ${e.begin - expected} bytes after ` +
          `${after}; tensors must be packed with no gaps`,
      )
    }
    if (e.begin < expected) {
      throw new FileFormatError(label, `tensor '${name}': data_offsets [${e.begin}, ${e.end}] overlap ${after}`)
    }
    expected = e.end
    prev = name
  }
  if (expected !== dataLen) {
    throw new FileFormatError(
      label,
      `the header's tensors cover ${expected} bytes but the data section holds ${dataLen} bytes ` +
        `(file size ${8 + bytes.byteLength + dataLen}); the file is truncated or has trailing bytes`,
    )
  }
  return {entries: new Map(list), metadata, dataOffset: 8 + bytes.byteLength}
}

function checkMetadata(value: unknown, label: string): Record<string, string> {
  if (!isPlainObject(value)) throw new FileFormatError(label, `__metadata__ must be an object of strings, found ${describe(value)}`)
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new FileFormatError(label, `__metadata__ value of '${k}' must be a string, found ${describe(v)}`)
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>))
}

function checkEntry(name: string, value: unknown, label: string, dataLen: number): StHeaderEntry {
  const what = `tensor '${truncate(name, 200)}'`
  if (!isPlainObject(value)) {
    throw new FileFormatError(label, `${what}: header entry must be an object {dtype, shape, data_offsets}, found ${describe(value)}`)
  }
  const keys = Object.keys(value)
  const extra = keys.filter((k) => !(ENTRY_FIELDS as readonly string[]).includes(k))
  const missing = ENTRY_FIELDS.filter((k) => !Object.hasOwn(value, k))
  if (extra.length > 0 || missing.length > 0) {
    const parts = [missing.length > 0 ? `missing ${missing.join(', ')}` : '', extra.length > 0 ? `unexpected ${quoteList(extra)}` : '']
    const found = parts.filter(Boolean).join('; ')
    throw new FileFormatError(label, `${what}: header entry must have exactly dtype, shape, data_offsets (${found})`)
  }

  const dtype = value.dtype
  if (typeof dtype !== 'string') throw new FileFormatError(label, `${what}: dtype must be a string, found ${describe(dtype)}`)
  if (!(ST_DTYPES as readonly string[]).includes(dtype)) {
    throw new FileFormatError(label, `${what}: unsupported dtype '${truncate(dtype)}' (supported: ${ST_DTYPES.join(', ')})`)
  }

  const shape = value.shape
  if (!Array.isArray(shape)) throw new FileFormatError(label, `${what}: shape must be an array of integers >= 0, found ${describe(shape)}`)
  for (let i = 0; i < shape.length; i++) {
    if (!isCount(shape[i])) {
      throw new FileFormatError(label, `${what}: shape[${i}] must be an integer >= 0 (safe integer), found ${describe(shape[i])}`)
    }
  }

  const offs = value.data_offsets
  if (!Array.isArray(offs) || offs.length !== 2) {
    throw new FileFormatError(label, `${what}: data_offsets must be [begin, end], found ${describe(offs)}`)
  }
  const [begin, end] = offs as unknown[]
  if (!isCount(begin) || !isCount(end)) {
    throw new FileFormatError(label, `${what}: data_offsets must be two integers >= 0, found ${describe(offs)}`)
  }
  if (end < begin) throw new FileFormatError(label, `${what}: data_offsets [${begin}, ${end}] end before they begin`)
  if (end > dataLen) {
    throw new FileFormatError(
      label,
      `${what}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLen} bytes; is the file truncated?)`,
    )
  }

  // Element count with an overflow guard (the byte count must stay a safe integer).
  const size = DTYPE_SIZE[dtype as StDtype]
  const dims = shape as number[]
  let count = dims.includes(0) ? 0 : 1
  for (const d of dims) {
    if (count === 0) break
    if (count > Math.floor(Number.MAX_SAFE_INTEGER / size / d)) {
      throw new FileFormatError(label, `${what}: shape [${dims.join(', ')}] has too many elements to address`)
    }
    count *= d
  }
  const nbytes = count * size
  if (nbytes !== end - begin) {
    throw new FileFormatError(
      label,
      `${what}: shape [${dims.join(', ')}] of ${dtype} needs ${nbytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    )
  }
  return {dtype: dtype as StDtype, shape: [...dims], begin, end}
}

/**
 * Refuse, before parsing, a header whose structure no safetensors header has: more than MAX_HEADER_ENTRIES
 * top-level keys, an array of more than MAX_RANK values, or nesting deeper than three levels. One pass over the
 * text, no allocation; malformed JSON is left for JSON.parse to report.
 */
function checkStructure(text: string, label: string): void {
  let depth = 0
  let entries = 0
  let values = 0 // in the current depth-3 array
  let name = '' // the top-level key being read (for messages), up to 200 characters
  let atKey = false // the next string at depth 1 is a key
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++
      if (depth === 1 && atKey) {
        atKey = false
        if (++entries > MAX_HEADER_ENTRIES)
          throw new FileFormatError(label, `header lists more than ${MAX_HEADER_ENTRIES} tensors (the limit of this reader; not a model file ligo or Hugging Face writes, or corrupt)`)
        name = text.slice(start + 1, Math.min(i, start + 201))
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > 3)
        throw new FileFormatError(label, `header nests deeper than a safetensors header does (3 levels) in entry '${truncate(name)}'`)
      if (depth === 1) atKey = c === 0x7b
      if (depth === 3) values = 0
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--
    } else if (c === 0x2c /* , */) {
      if (depth === 1) atKey = true
      else if (depth === 3 && ++values >= MAX_RANK)
        throw new FileFormatError(label, `tensor '${truncate(name)}': an array in its entry has more than ${MAX_RANK} values (shapes have at most ${MAX_RANK} dimensions)`)
    }
  }
}

/**
 * Find a key that occurs twice in one object of a valid JSON text (JSON.parse keeps the last silently).
 * Returns the key and the key of the object holding it (undefined for the top level).
 */
function findDuplicateKey(text: string): {key: string; parent: string | undefined} | undefined {
  interface Frame {
    keys: Set<string> | undefined // undefined for arrays
    expectKey: boolean
    name: string | undefined // the key under which this object/array sits
    lastKey: string | undefined
  }
  const stack: Frame[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      let j = i + 1
      let escaped = false
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c /* \ */) {
          escaped = true
          j++
        }
        j++
      }
      const top = stack[stack.length - 1]
      if (top?.keys !== undefined && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j)
        if (top.keys.has(key)) return {key, parent: top.name}
        top.keys.add(key)
        top.lastKey = key
        top.expectKey = false
      }
      i = j
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const top = stack[stack.length - 1]
      stack.push({keys: c === 0x7b ? new Set() : undefined, expectKey: c === 0x7b, name: top?.lastKey ?? top?.name, lastKey: undefined})
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]
      if (top?.keys !== undefined) top.expectKey = true
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

function selectEntries(
  entries: Map<string, StHeaderEntry>,
  only: readonly string[] | undefined,
  label: string,
): [string, StHeaderEntry][] {
  if (only === undefined) return [...entries]
  const absent = only.filter((t) => !entries.has(t))
  if (absent.length > 0) {
    throw new FileFormatError(label, `missing ${absent.length} tensor(s): ${quoteList(absent)} (the file has ${entries.size})`)
  }
  const wanted = new Set(only)
  return [...entries].filter(([name]) => wanted.has(name))
}

/**
 * Decode one tensor's little-endian bytes. `owned` bytes (a fresh buffer of exactly this tensor) may be viewed
 * in place; others are copied, so the result never aliases the caller's buffer.
 */
function decodeTensor(
  name: string,
  e: StHeaderEntry,
  bytes: Uint8Array,
  label: string,
  owned: boolean,
  checkFinite: boolean,
): StTensor {
  const count = bytes.byteLength / DTYPE_SIZE[e.dtype]
  let data: StData
  switch (e.dtype) {
    case 'F32':
    case 'I32': {
      if (!HOST_LITTLE_ENDIAN) {
        data = readBE(bytes, count, e.dtype)
        break
      }
      const b = owned && bytes.byteOffset % 4 === 0 ? bytes : copyBytes(bytes)
      data = e.dtype === 'F32' ? new Float32Array(b.buffer, b.byteOffset, count) : new Int32Array(b.buffer, b.byteOffset, count)
      break
    }
    case 'U8':
      data = owned ? bytes : copyBytes(bytes)
      break
    case 'F16':
      data = f16ToF32(readU16(bytes, count))
      break
    case 'BF16':
      data = bf16ToF32(readU16(bytes, count))
      break
    case 'I64':
      data = readI64(name, bytes, count, label)
      break
  }
  if (checkFinite && FLOAT_DTYPES.has(e.dtype)) {
    const f = data as Float32Array
    for (let i = 0; i < f.length; i++) {
      if (!Number.isFinite(f[i])) {
        throw new FileFormatError(label, `tensor '${name}' has a non-finite value (${f[i]}) at flat index ${i} of ${f.length}`)
      }
    }
  }
  return {dtype: e.dtype, shape: e.shape, data}
}

/** A copy in a fresh, aligned buffer. (Not `.slice()`: on a Node Buffer that returns a view, not a copy.) */
function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy
}

/** Decode little-endian F32/I32 on a big-endian host. */
function readBE(bytes: Uint8Array, count: number, dtype: 'F32' | 'I32'): Float32Array | Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = dtype === 'F32' ? new Float32Array(count) : new Int32Array(count)
  for (let i = 0; i < count; i++) out[i] = dtype === 'F32' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true)
  return out
}

function readU16(bytes: Uint8Array, count: number): Uint16Array {
  const out = new Uint16Array(count)
  for (let i = 0; i < count; i++) out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8)
  return out
}

function readI64(name: string, bytes: Uint8Array, count: number, label: string): Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const lo = view.getInt32(i * 8, true)
    const hi = view.getInt32(i * 8 + 4, true)
    if (hi !== lo >> 31) {
      throw new FileFormatError(
        label,
        `tensor '${name}' (I64) has the value ${view.getBigInt64(i * 8, true)} at flat index ${i}, ` +
          'outside the int32 range this reader supports',
      )
    }
    out[i] = lo
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Float conversions (round-to-nearest-even; NaN stays NaN, ±Inf stays ±Inf, subnormals are exact or rounded)

/** Float32 -> IEEE half bits, round-to-nearest-even. Overflow gives ±Inf; NaN stays a (quiet) NaN. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  const out = new Uint16Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i])
  return out
}

function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  const mant = x & 0x7fffff
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13) // Inf / quiet NaN
  if (exp >= 143) return sign | 0x7c00 // >= 2^16: overflow to Inf
  if (exp >= 113) {
    // Normal half: rebias the exponent, keep 10 mantissa bits, round on the 13 dropped ones. A carry out of the
    // mantissa bumps the exponent, which is right (and gives Inf above 65504).
    let h = ((exp - 112) << 10) | (mant >>> 13)
    const rest = mant & 0x1fff
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++
    return sign | h
  }
  // Subnormal half (or zero): value = m·2^(exp-150) with the implicit bit; in units of 2^-24 that is m >> (126-exp).
  const shift = 126 - exp
  if (shift > 25) return sign // below half the smallest subnormal: rounds to ±0
  const m = exp === 0 ? mant : mant | 0x800000
  let h = m >>> shift
  const rest = m & ((1 << shift) - 1)
  const half = 1 << (shift - 1)
  if (rest > half || (rest === half && (h & 1) === 1)) h++
  return sign | h
}

let f16Table: Float32Array | undefined

/** IEEE half bits -> Float32 (exact). */
export function f16ToF32(src: Uint16Array): Float32Array {
  const table = (f16Table ??= buildF16Table())
  const out = new Float32Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]]
  return out
}

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536)
  const bits = new Uint32Array(table.buffer)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) table[h] = (sign ? -1 : 1) * mant * 2 ** -24 // zero and subnormals
    else if (exp === 0x1f) bits[h] = sign | 0x7f800000 | (mant << 13) // Inf / NaN (payload kept)
    else bits[h] = sign | ((exp + 112) << 23) | (mant << 13)
  }
  return table
}

/** Float32 -> bfloat16 bits, round-to-nearest-even; NaN stays a (quiet) NaN. */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  const out = new Uint16Array(src.length)
  for (let i = 0; i < src.length; i++) {
    const x = bits[i]
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x0040
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16
  }
  return out
}

/** bfloat16 bits -> Float32 (exact: the upper half of the float32 bits). */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length)
  const bits = new Uint32Array(out.buffer)
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Files and helpers

/** Open `file` for reading, run `fn(fd, size)`, close. Missing or non-regular files are input errors. */
function withFile<T>(file: string, fn: (fd: number, size: number) => T): T {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new InputError(`${file}: no such file`, {code: 'E_NOT_FOUND'})
    throw ioError(file, 'open', err)
  }
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) throw new InputError(`${file} is not a regular file`)
    return fn(fd, stat.size)
  } finally {
    fs.closeSync(fd)
  }
}

function readHeaderFd(fd: number, size: number, file: string): StHeader {
  if (size < 8) throw new FileFormatError(file, `file is ${size} bytes, too short for the 8-byte header length`)
  const lenBytes = new Uint8Array(8)
  readExact(fd, lenBytes, 0, file, 'the header length')
  const n = checkHeaderLength(readU64(lenBytes), size, file)
  const headerBytes = new Uint8Array(n) // <= min(100 MB, file size)
  readExact(fd, headerBytes, 8, file, 'the header')
  return parseHeader(headerBytes, file, size - 8 - n)
}

/** Fill `dst` from `position`; a short file (changed while reading) is a format error. */
function readExact(fd: number, dst: Uint8Array, position: number, file: string, what: string): void {
  let done = 0
  while (done < dst.byteLength) {
    let n: number
    try {
      n = fs.readSync(fd, dst, done, Math.min(dst.byteLength - done, 1 << 30), position + done)
    } catch (err) {
      throw ioError(file, 'read', err)
    }
    if (n === 0) throw new FileFormatError(file, `file ended while reading ${what} (was it changed while being read?)`)
    done += n
  }
}

function readWeightMap(indexPath: string): Map<string, string> {
  let text: string
  try {
    text = fs.readFileSync(indexPath, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new InputError(`${indexPath}: no such file (not a sharded safetensors checkpoint)`, {code: 'E_NOT_FOUND'})
    }
    throw ioError(indexPath, 'read', err)
  }
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (err) {
    throw new FileFormatError(indexPath, `not valid JSON (${err instanceof Error ? err.message : String(err)})`)
  }
  const dup = findDuplicateKey(text)
  if (dup !== undefined) throw new FileFormatError(indexPath, `the key '${dup.key}' occurs twice${dup.parent ? ` in '${dup.parent}'` : ''}`)
  if (!isPlainObject(root) || !isPlainObject(root.weight_map)) {
    const found = describe(isPlainObject(root) ? root.weight_map : root)
    throw new FileFormatError(indexPath, `expected an object with a "weight_map" object, found ${found}`)
  }
  const map = new Map<string, string>()
  for (const [t, f] of Object.entries(root.weight_map)) {
    if (typeof f !== 'string') throw new FileFormatError(indexPath, `weight_map['${t}'] must be a file name, found ${describe(f)}`)
    if (f === '' || f === '.' || f === '..' || f.includes('/') || f.includes('\\') || f.includes('\0')) {
      throw new FileFormatError(
        indexPath,
        `weight_map['${t}'] = ${JSON.stringify(f)} must be a plain file name in the checkpoint directory`,
      )
    }
    map.set(t, f)
  }
  return map
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Compare strings by their UTF-8 bytes (the reference writer's order), not by UTF-16 code units. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function describe(v: unknown): string {
  const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
  return `${type} ${preview(v, 60)}` // bounded: a header value may nest 100,000 deep
}

function truncate(s: string, max = 60): string {
  return s.length > max ? s.slice(0, max - 3) + '...' : s
}

function quoteList(items: readonly string[]): string {
  return truncateList(items.map((s) => `'${truncate(s)}'`))
}

function truncateList(items: readonly string[], max = 20): string {
  const shown = items.slice(0, max).join(', ')
  return items.length > max ? `${shown}, and ${items.length - max} more` : shown
}
