/** Shared helpers for the checkpoint tests: raw safetensors files, a seeded PRNG, temp directories. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {mulberry32} from '../prng.js'

/** Bytes of a safetensors file from a header text and data bytes; `n` overrides the length field. */
export function rawFile(header: string, data: Uint8Array | number[] = [], n?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header)
  const d = data instanceof Uint8Array ? data : Uint8Array.from(data)
  const out = new Uint8Array(8 + h.length + d.length)
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true)
  out.set(h, 8)
  out.set(d, 8 + h.length)
  return out
}

/** Little-endian bytes of float32 values. */
export function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  values.forEach((v, i) => view.setFloat32(i * 4, v, true))
  return out
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export const prng = mulberry32

/** A fresh temp directory (removed by the caller with `removeTemp`). */
export function makeTemp(prefix = 'ligo-ckpt-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

export function removeTemp(dir: string): void {
  fs.rmSync(dir, {recursive: true, force: true})
}

/** The error `fn` throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected the call to throw')
}
