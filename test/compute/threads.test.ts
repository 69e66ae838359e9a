// A run's numbers must not depend on how many threads the native kernels use (LIGO_THREADS, default 2): reductions
// add fixed parts in a fixed order (native/threadpool.h kReduceParts), GEMM splits rows or columns of C only. Until
// this was so, a run with LIGO_THREADS=1 parted from the default one after ~35 steps (the cross-entropy, layer-norm
// and bias-gradient sums were split per thread). Checked in child processes, since the pool's size is read once.
import {execFileSync} from 'node:child_process'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {native} from './helpers.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const script = path.join(ROOT, 'test', 'compute', 'threads-check.mjs')

function kernels(threads: number): {threads: number; out: Record<string, string>} {
  const env = {...process.env, LIGO_THREADS: String(threads)}
  const text = execFileSync(process.execPath, [script, ROOT], {env, encoding: 'utf8', maxBuffer: 256 << 20})
  return JSON.parse(text.trim().split('\n').pop()!) as {threads: number; out: Record<string, string>}
}

describe.skipIf(!native)('native kernels and the thread count', () => {
  it('give bit-identical results with 1, 2 and 3 threads', () => {
    const two = kernels(2)
    expect(two.threads).toBe(2)
    expect(Object.keys(two.out).length).toBeGreaterThanOrEqual(10)
    for (const t of [1, 3]) {
      const other = kernels(t)
      expect(other.threads).toBe(t)
      for (const [k, v] of Object.entries(two.out)) expect(other.out[k] === v, `${k} with ${t} threads differs from 2 threads`).toBe(true)
    }
  })
})
