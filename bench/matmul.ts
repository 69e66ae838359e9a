/**
 * Matmul throughput: GFLOP/s of the native addon's SGEMM vs the tfjs cpu and wasm backends at square and
 * GPT-step shapes, plus numpy/OpenBLAS (2 threads) measured in the same run as the machine's ceiling.
 *   npx tsx bench/matmul.ts [--quick]
 * Prints a table and writes .bench/matmul-<time>.json.
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import * as tf from '@tensorflow/tfjs-core'

import {initBackend} from '../src/compute/backend.js'
import {loadNative} from '../src/compute/native.js'

interface Shape {
  name: string
  batch: number
  M: number
  N: number
  K: number
  ta: boolean
  tb: boolean
}

const S = (name: string, batch: number, M: number, N: number, K: number, ta = false, tb = false): Shape =>
  ({name, batch, M, N, K, ta, tb})

const SHAPES: Shape[] = [
  S('square 1024', 1, 1024, 1024, 1024),
  S('square 1024 ·Bᵀ', 1, 1024, 1024, 1024, false, true),
  S('square 1024 Aᵀ·', 1, 1024, 1024, 1024, true, false),
  S('square 512', 1, 512, 512, 512),
  S('qkv fwd [2048,128]x[128,384]', 1, 2048, 384, 128),
  S('mlp-down fwd [2048,512]x[512,128]', 1, 2048, 128, 512),
  S('qkv dx [2048,384]x[128,384]ᵀ', 1, 2048, 128, 384, false, true),
  S('qkv dW [2048,128]ᵀx[2048,384]', 1, 128, 384, 2048, true, false),
  S('att scores [64,128,32]x[64,128,32]ᵀ', 64, 128, 128, 32, false, true),
  S('att out [64,128,128]x[64,128,32]', 64, 128, 32, 128),
  S('head [2048,256]x[256,256]', 1, 2048, 256, 256),
]

const quick = process.argv.includes('--quick')
const MIN_SECONDS = quick ? 0.2 : 0.6

function flops(s: Shape): number {
  return 2 * s.batch * s.M * s.N * s.K
}

/** Median seconds per call over repeated timed windows (after one warm-up call). */
function timeIt(fn: () => void, budget = MIN_SECONDS): number {
  fn()
  const times: number[] = []
  const t0 = performance.now()
  while (times.length < 3 || (performance.now() - t0) / 1000 < budget) {
    const a = performance.now()
    fn()
    times.push((performance.now() - a) / 1000)
    if (times.length > 200) break
  }
  times.sort((x, y) => x - y)
  return times[Math.floor(times.length / 2)]
}

function nativeGflops(s: Shape): number | null {
  const addon = loadNative().addon
  if (!addon) return null
  const A = new Float32Array(s.batch * s.M * s.K).map(() => Math.random() - 0.5)
  const B = new Float32Array(s.batch * s.K * s.N).map(() => Math.random() - 0.5)
  const C = new Float32Array(s.batch * s.M * s.N)
  const t = timeIt(() =>
    addon.gemm(A, B, C, s.batch, s.M, s.N, s.K, s.ta, s.tb, s.M * s.K, s.K * s.N, s.M * s.N, 1, 0))
  return flops(s) / t / 1e9
}

async function tfjsGflops(backend: 'cpu' | 'wasm', s: Shape): Promise<number | null> {
  // The cpu backend needs ~1-3 s per 1024³ product: measure it only on the smaller shapes unless asked.
  if (backend === 'cpu' && flops(s) > 3e8 && !process.argv.includes('--slow')) return null
  try {
    await initBackend(backend)
  } catch {
    return null
  }
  const a = tf.randomUniform(s.batch > 1 ? [s.batch, s.ta ? s.K : s.M, s.ta ? s.M : s.K] : [s.ta ? s.K : s.M, s.ta ? s.M : s.K])
  const b = tf.randomUniform(s.batch > 1 ? [s.batch, s.tb ? s.N : s.K, s.tb ? s.K : s.N] : [s.tb ? s.N : s.K, s.tb ? s.K : s.N])
  const t = timeIt(() => tf.tidy(() => tf.matMul(a, b, s.ta, s.tb).dataSync()), backend === 'cpu' ? 0.3 : MIN_SECONDS)
  tf.dispose([a, b])
  return flops(s) / t / 1e9
}

const NUMPY = `
import json, sys, time
import numpy as np
out = []
for (b, M, N, K, ta, tb) in json.loads(sys.argv[1]):
    A = np.random.rand(*( [b] if b > 1 else []), *( (K, M) if ta else (M, K))).astype(np.float32)
    B = np.random.rand(*( [b] if b > 1 else []), *( (N, K) if tb else (K, N))).astype(np.float32)
    At = np.swapaxes(A, -1, -2) if ta else A
    Bt = np.swapaxes(B, -1, -2) if tb else B
    np.matmul(At, Bt)
    ts = []
    t0 = time.perf_counter()
    while len(ts) < 3 or time.perf_counter() - t0 < ${MIN_SECONDS}:
        a = time.perf_counter(); np.matmul(At, Bt); ts.append(time.perf_counter() - a)
        if len(ts) > 200: break
    ts.sort()
    out.append(2.0 * b * M * N * K / ts[len(ts) // 2] / 1e9)
print(json.dumps(out))
`

function numpyGflops(shapes: Shape[]): (number | null)[] {
  try {
    const arg = JSON.stringify(shapes.map((s) => [s.batch, s.M, s.N, s.K, s.ta, s.tb]))
    const out = execFileSync('python3', ['-c', NUMPY, arg], {
      encoding: 'utf8', env: {...process.env, OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '2', MKL_NUM_THREADS: '2'},
      stdio: ['ignore', 'pipe', 'ignore'], timeout: 300_000,
    })
    return JSON.parse(out) as number[]
  } catch {
    return shapes.map(() => null)
  }
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(1))

async function main(): Promise<void> {
  const nat = loadNative()
  const info = nat.addon?.info()
  const rows: {shape: Shape; native: number | null; numpy: number | null; wasm: number | null; cpu: number | null}[] = []
  const np = numpyGflops(SHAPES)
  for (const [i, s] of SHAPES.entries()) {
    rows.push({shape: s, native: nativeGflops(s), numpy: np[i], wasm: await tfjsGflops('wasm', s), cpu: await tfjsGflops('cpu', s)})
  }
  const head = ['shape', 'native', 'numpy(2T)', 'native/numpy', 'wasm', 'cpu']
  const lines = rows.map((r) => [r.shape.name, fmt(r.native), fmt(r.numpy),
    r.native !== null && r.numpy !== null ? `${((100 * r.native) / r.numpy).toFixed(0)}%` : 'n/a', fmt(r.wasm), fmt(r.cpu)])
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)))
  const row = (cells: string[]) => cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ')
  console.log(`GFLOP/s, float32 (native: ${info ? `${info.isa}, ${info.threads} threads` : `not loaded: ${nat.reason}`})`)
  console.log(row(head))
  for (const l of lines) console.log(row(l))
  mkdirSync('.bench', {recursive: true})
  const file = join('.bench', `matmul-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({when: new Date().toISOString(), native: info ?? null, rows}, null, 2) + '\n')
  console.log(`wrote ${file}`)
}

await main()
