// Child-process half of threads.test.ts: runs the native kernels that reduce across rows or split one output over
// the pool (GEMM, layer norm forward and backward, cross-entropy, column sums, sum of squares, AdamW) at sizes large
// enough to be split, and prints one JSON line {threads, out} with every output's bits (as hex), so runs under
// different LIGO_THREADS can be compared exactly. (Attention splits by (batch, head) pairs, each computed whole by
// one thread, so it has no partial sums to check here.)
import {createRequire} from 'node:module'
import {join} from 'node:path'

const addon = createRequire(import.meta.url)(join(process.argv[2], 'build', 'Release', 'ligo_native.node'))
let seed = 7
const rnd = (n) => Float32Array.from({length: n}, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1)
const out = {}
const bits = (name, a) => (out[name] = Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex'))

{
  const [M, N, K] = [300, 200, 96]
  const A = rnd(M * K), B = rnd(K * N), C = new Float32Array(M * N)
  addon.gemm(A, B, C, 1, M, N, K, false, false, 0, 0, 0, 1, 0)
  bits('gemm', C)
}
{
  const [Nr, Cc] = [2048, 128]
  const x = rnd(Nr * Cc), g = rnd(Cc), b = rnd(Cc), dy = rnd(Nr * Cc)
  const y = new Float32Array(Nr * Cc), mean = new Float32Array(Nr), rstd = new Float32Array(Nr)
  addon.layerNormForward(x, g, b, Nr, Cc, 1e-5, y, mean, rstd)
  const dx = new Float32Array(Nr * Cc), dg = new Float32Array(Cc), db = new Float32Array(Cc)
  addon.layerNormBackward(dy, x, g, mean, rstd, Nr, Cc, dx, dg, db)
  bits('layerNorm', y), bits('layerNormBackward dx', dx), bits('layerNormBackward dg', dg), bits('layerNormBackward db', db)
}
{
  const [N, V] = [2048, 256]
  const logits = Float32Array.from(rnd(N * V), (v) => v * 8), targets = Int32Array.from({length: N}, (_, i) => (i * 31) % V)
  const lse = new Float32Array(N)
  const loss = addon.crossEntropyForward(logits, targets, N, V, lse)
  bits('crossEntropy loss', Float64Array.of(loss)), bits('crossEntropy lse', lse)
}
{
  const [R, D] = [2048, 384]
  const cs = rnd(R * D), col = new Float32Array(D)
  addon.colSum(cs, R, D, col)
  bits('colSum', col)
  bits('sumSquares', Float64Array.of(addon.sumSquares(rnd(300_001))))
  const n = 300_001, p = rnd(n), gr = rnd(n), m = rnd(n), vv = rnd(n).map((v) => v * v)
  addon.adamwUpdate(p, gr, m, vv, 1e-2, 0.9, 0.95, 1e-8, 0.1, 3)
  bits('adamw p', p)
}
console.log(JSON.stringify({threads: addon.info().threads, out}))
