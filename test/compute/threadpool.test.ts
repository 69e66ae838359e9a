// The native thread pool's job protocol (native/threadpool.cc): thousands of back-to-back parallel jobs of
// different sizes must each run every item exactly once, including while another process competes for the
// CPUs (then a worker often wakes late, after the caller has run the whole job itself, and must not take items
// of the next job). Checked through kernels whose output shows a skipped or doubled chunk.
import {spawn} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {native, uniform} from './helpers.js'

const run = native ? it : it.skip

function expectExactSum(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (out[i] !== Math.fround(a[i] + b[i])) throw new Error(`item ${i} of ${n}: ${out[i]} ≠ ${Math.fround(a[i] + b[i])}`)
  }
}

function stress(rounds: number): void {
  const addon = native!
  const sizes = [40_000, 65_537, 100_003, 262_144, 1 << 20]
  const a = uniform(1 << 20, 1)
  const b = uniform(1 << 20, 2)
  const out = new Float32Array(1 << 20)
  // A small GEMM split across threads (M ≥ N: rows), checked against a column of sums.
  const M = 96
  const K = 64
  const N = 48
  const A = uniform(M * K, 3)
  const B = uniform(K * N, 4)
  const C = new Float32Array(M * N)
  const ref = new Float32Array(M * N)
  addon.gemm(A, B, ref, 1, M, N, K, false, false, 0, 0, 0, 1, 0)
  for (let r = 0; r < rounds; r++) {
    const n = sizes[r % sizes.length]
    out.fill(Number.NaN, 0, n)
    addon.binary(0, a, n, b, n, out, n)
    expectExactSum(a, b, out, n)
    C.fill(Number.NaN)
    addon.gemm(A, B, C, 1, M, N, K, false, false, 0, 0, 0, 1, 0)
    for (let i = 0; i < M * N; i++) if (C[i] !== ref[i]) throw new Error(`gemm round ${r}: C[${i}] = ${C[i]} ≠ ${ref[i]}`)
  }
}

describe('native thread pool', () => {
  run('runs every item of every job exactly once, back to back', () => {
    expect(() => stress(2000)).not.toThrow()
  })

  run('stays exact while another process keeps the CPUs busy', async () => {
    // Two busy loops in a child process: the pool's worker is descheduled now and then.
    const busy = spawn(process.execPath, ['-e', "const {Worker}=require('node:worker_threads');" +
      "new Worker('for(;;){}',{eval:true});for(;;){}"], {stdio: 'ignore'})
    try {
      await new Promise((r) => setTimeout(r, 200))
      expect(() => stress(1500)).not.toThrow()
    } finally {
      busy.kill('SIGKILL')
    }
  })
})
