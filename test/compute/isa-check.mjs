// Child-process check of the addon's non-default ISA paths (run by isa.test.ts with LIGO_ISA=avx2|scalar, which
// caps the kernels' dispatch at load time): GEMM variants, layer norm, GELU, attention and softmax against plain
// JS. Prints one JSON line {isa, failures}.
import {createRequire} from 'node:module'
import {join} from 'node:path'

const addon = createRequire(import.meta.url)(join(process.argv[2], 'build', 'Release', 'ligo_native.node'))
const failures = []
let seed = 1
const rnd = (n) => Float32Array.from({length: n}, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1)
const close = (what, a, r, tol = 1e-4) => {
  for (let i = 0; i < r.length; i++) {
    if (!(Math.abs(a[i] - r[i]) <= tol * (1 + Math.abs(r[i])))) {
      failures.push(`${what}[${i}]: ${a[i]} vs ${r[i]}`)
      return
    }
  }
}

for (const [M, N, K] of [[45, 65, 33], [150, 70, 400], [7, 3, 1]]) {
  for (const ta of [false, true]) for (const tb of [false, true]) {
    const A = rnd(2 * M * K), B = rnd(K * N), C = new Float32Array(2 * M * N)
    addon.gemm(A, B, C, 2, M, N, K, ta, tb, M * K, 0, M * N, 1, 0)
    const want = new Float32Array(2 * M * N)
    for (let b = 0; b < 2; b++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0
      for (let k = 0; k < K; k++) s += (ta ? A[b * M * K + k * M + i] : A[b * M * K + i * K + k]) * (tb ? B[j * K + k] : B[k * N + j])
      want[b * M * N + i * N + j] = s
    }
    close(`gemm ${M},${N},${K},${ta},${tb}`, C, want)
  }
}

{
  const [Nr, Cc] = [9, 37]
  const x = rnd(Nr * Cc), g = rnd(Cc), b = rnd(Cc)
  const y = new Float32Array(Nr * Cc), mean = new Float32Array(Nr), rstd = new Float32Array(Nr)
  addon.layerNormForward(x, g, b, Nr, Cc, 1e-5, y, mean, rstd)
  const want = new Float32Array(Nr * Cc)
  for (let i = 0; i < Nr; i++) {
    const row = x.subarray(i * Cc, (i + 1) * Cc)
    const m = row.reduce((s, v) => s + v, 0) / Cc
    const rs = 1 / Math.sqrt(row.reduce((s, v) => s + (v - m) ** 2, 0) / Cc + 1e-5)
    for (let c = 0; c < Cc; c++) want[i * Cc + c] = (row[c] - m) * rs * g[c] + b[c]
  }
  close('layerNorm', y, want)
}
{
  const x = Float32Array.from(rnd(99), (v) => v * 6), y = new Float32Array(99)
  addon.geluForward(x, y, 99)
  close('gelu', y, x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))))
  const s = new Float32Array(99)
  addon.softmax(x, 3, 33, s)
  const want = new Float32Array(99)
  for (let i = 0; i < 3; i++) {
    const row = x.subarray(i * 33, i * 33 + 33)
    const m = Math.max(...row)
    const z = row.reduce((a, v) => a + Math.exp(v - m), 0)
    for (let j = 0; j < 33; j++) want[i * 33 + j] = Math.exp(row[j] - m) / z
  }
  close('softmax', s, want)
}
{
  const [BH, T, HS] = [2, 50, 5]
  const q = rnd(BH * T * HS), k = rnd(BH * T * HS), v = rnd(BH * T * HS)
  const out = new Float32Array(BH * T * HS), P = new Float32Array(BH * T * T)
  addon.attentionForward(q, k, v, BH, T, HS, 0.5, out, P)
  const want = new Float32Array(BH * T * HS)
  for (let h = 0; h < BH; h++) for (let i = 0; i < T; i++) {
    const o = h * T * HS
    const s = []
    for (let j = 0; j <= i; j++) {
      let d = 0
      for (let c = 0; c < HS; c++) d += q[o + i * HS + c] * k[o + j * HS + c]
      s.push(0.5 * d)
    }
    const m = Math.max(...s)
    const z = s.reduce((a, x) => a + Math.exp(x - m), 0)
    for (let j = 0; j <= i; j++) for (let c = 0; c < HS; c++) want[o + i * HS + c] += (Math.exp(s[j] - m) / z) * v[o + j * HS + c]
  }
  close('attention', out, want)
}
console.log(JSON.stringify({isa: addon.info().isa, failures}))
