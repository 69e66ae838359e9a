// Child-process check of the addon's non-default ISA paths (run by isa.test.ts with LIGO_ISA=avx2|scalar, which
// caps the kernels' dispatch at load time): GEMM variants, layer norm, GELU, attention and softmax (forward and
// backward), cross-entropy, AdamW, column sums, broadcast binary ops and the LiGO materialisation against plain JS, with row lengths that
// leave vector tails and softmax inputs wide enough for e^x to underflow. Prints one JSON line {isa, failures}.
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
{
  // Backward passes and the remaining row kernels.
  const [Nr, Cc] = [7, 45]
  const x = rnd(Nr * Cc), g = rnd(Cc), b = rnd(Cc), dy = rnd(Nr * Cc)
  const y = new Float32Array(Nr * Cc), mean = new Float32Array(Nr), rstd = new Float32Array(Nr)
  addon.layerNormForward(x, g, b, Nr, Cc, 1e-5, y, mean, rstd)
  const dx = new Float32Array(Nr * Cc), dg = new Float32Array(Cc), db = new Float32Array(Cc)
  addon.layerNormBackward(dy, x, g, mean, rstd, Nr, Cc, dx, dg, db)
  const wdx = new Float32Array(Nr * Cc), wdg = new Float32Array(Cc), wdb = new Float32Array(Cc)
  for (let i = 0; i < Nr; i++) {
    let sd = 0, sdx = 0
    const xh = (c) => (x[i * Cc + c] - mean[i]) * rstd[i]
    for (let c = 0; c < Cc; c++) (sd += dy[i * Cc + c] * g[c]), (sdx += dy[i * Cc + c] * g[c] * xh(c))
    for (let c = 0; c < Cc; c++) {
      wdx[i * Cc + c] = rstd[i] * (dy[i * Cc + c] * g[c] - sd / Cc - xh(c) * (sdx / Cc))
      wdg[c] += dy[i * Cc + c] * xh(c)
      wdb[c] += dy[i * Cc + c]
    }
  }
  close('layerNormBackward dx', dx, wdx)
  close('layerNormBackward dg', dg, wdg)
  close('layerNormBackward db', db, wdb)

  const gx = Float32Array.from(rnd(101), (v) => v * 6), gdy = rnd(101), gdx = new Float32Array(101)
  addon.geluBackward(gx, gdy, gdx, 101)
  const s = Math.sqrt(2 / Math.PI)
  close('geluBackward', gdx, gx.map((v, i) => {
    const t = Math.tanh(s * (v + 0.044715 * v ** 3))
    return gdy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * s * (1 + 3 * 0.044715 * v * v))
  }))

  // Logits spread over ±300: most e^(x − max) underflow to 0.
  const [N, V] = [5, 27]
  const logits = Float32Array.from(rnd(N * V), (v) => v * 300), targets = Int32Array.from({length: N}, (_, i) => (i * 7) % V)
  const lse = new Float32Array(N)
  const loss = addon.crossEntropyForward(logits, targets, N, V, lse)
  const wlse = Array.from({length: N}, (_, i) => {
    const row = logits.subarray(i * V, (i + 1) * V), m = Math.max(...row)
    return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0))
  })
  close('crossEntropy lse', lse, wlse)
  close('crossEntropy loss', [loss], [wlse.reduce((a, l, i) => a + l - logits[i * V + targets[i]], 0) / N])
  const dlogits = new Float32Array(N * V)
  addon.crossEntropyBackward(logits, targets, lse, N, V, 2, dlogits)
  close('crossEntropyBackward', dlogits, logits.map((v, j) => (2 / N) * (Math.exp(v - wlse[Math.floor(j / V)]) - (j % V === targets[Math.floor(j / V)] ? 1 : 0))))
  const sw = new Float32Array(N * V)
  addon.softmax(logits, N, V, sw)
  close('softmax (underflow)', sw, logits.map((v, j) => Math.exp(v - wlse[Math.floor(j / V)])))

  // Non-finite logits (in a vector tail: V = 27): that row's lse and the loss are NaN; a NaN softmax input gives a NaN row.
  for (const bad of [NaN, Infinity, -Infinity]) {
    const l = logits.slice()
    l[3 * V + 26] = bad
    const lb = new Float32Array(N)
    const lossBad = addon.crossEntropyForward(l, targets, N, V, lb)
    if (!Number.isNaN(lossBad) || Array.from(lb, Number.isNaN).join() !== 'false,false,false,true,false')
      failures.push(`crossEntropy with a ${bad} logit: loss ${lossBad}, lse ${Array.from(lb)}`)
    if (!Number.isNaN(bad)) continue
    const sb = new Float32Array(N * V)
    addon.softmax(l, N, V, sb)
    if (!sb.subarray(3 * V, 4 * V).every(Number.isNaN)) failures.push(`softmax with a NaN input: row ${Array.from(sb.subarray(3 * V, 4 * V))}`)
  }

  const n = 1001, p = rnd(n), gr = rnd(n), m = rnd(n).map((v) => v * 0.1), vv = rnd(n).map((v) => v * v * 0.01)
  const [p0, m0, v0] = [p.slice(), m.slice(), vv.slice()]
  addon.adamwUpdate(p, gr, m, vv, 1e-2, 0.9, 0.95, 1e-8, 0.1, 3)
  const wp = new Float32Array(n), wm = new Float32Array(n), wv = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    wm[i] = 0.9 * m0[i] + 0.1 * gr[i]
    wv[i] = 0.95 * v0[i] + 0.05 * gr[i] * gr[i]
    wp[i] = p0[i] * (1 - 1e-2 * 0.1) - (1e-2 * (wm[i] / (1 - 0.9 ** 3))) / (Math.sqrt(wv[i] / (1 - 0.95 ** 3)) + 1e-8)
  }
  close('adamw m', m, wm)
  close('adamw v', vv, wv)
  close('adamw p', p, wp)
  close('sumSquares', [addon.sumSquares(gr)], [gr.reduce((a, v) => a + v * v, 0)])

  const [R, D] = [300, 37], cs = rnd(R * D), col = new Float32Array(D)
  addon.colSum(cs, R, D, col)
  close('colSum', col, Array.from({length: D}, (_, j) => { let t = 0; for (let i = 0; i < R; i++) t += cs[i * D + j]; return t }))
  const ba = rnd(6 * D), bb = rnd(D), bo = new Float32Array(6 * D)
  for (const [op, f] of [[0, (u, w) => u + w], [1, (u, w) => u - w], [2, (u, w) => u * w], [3, (u, w) => u / w]]) {
    addon.binary(op, ba, 6 * D, bb, D, bo, 6 * D)
    close(`binary ${op}`, bo, ba.map((u, i) => f(u, bb[i % D])))
  }
}
{
  // Attention backward against the formulas: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = scale·P⊙(dP − rowsum(P⊙dP)),
  // dQ = dS·K, dK = dSᵀ·Q (P from the forward, itself checked above).
  const [BH, T, HS, sc] = [2, 53, 6, 0.4]
  const q = rnd(BH * T * HS), k = rnd(BH * T * HS), v = rnd(BH * T * HS), dO = rnd(BH * T * HS)
  const out = new Float32Array(BH * T * HS), P = new Float32Array(BH * T * T)
  addon.attentionForward(q, k, v, BH, T, HS, sc, out, P)
  const dq = new Float32Array(BH * T * HS), dk = new Float32Array(BH * T * HS), dv = new Float32Array(BH * T * HS)
  addon.attentionBackward(dO, q, k, v, P, BH, T, HS, sc, dq, dk, dv)
  const wq = new Float32Array(BH * T * HS), wk = new Float32Array(BH * T * HS), wv = new Float32Array(BH * T * HS)
  for (let h = 0; h < BH; h++) {
    const o = h * T * HS, Pb = (i, j) => P[h * T * T + i * T + j]
    for (let i = 0; i < T; i++) {
      const dP = [], row = []
      for (let j = 0; j <= i; j++) {
        let d = 0
        for (let c = 0; c < HS; c++) d += dO[o + i * HS + c] * v[o + j * HS + c]
        dP.push(d)
      }
      const dot = dP.reduce((a, d, j) => a + d * Pb(i, j), 0)
      for (let j = 0; j <= i; j++) row.push(sc * Pb(i, j) * (dP[j] - dot))
      for (let j = 0; j <= i; j++) for (let c = 0; c < HS; c++) {
        wv[o + j * HS + c] += Pb(i, j) * dO[o + i * HS + c]
        wq[o + i * HS + c] += row[j] * k[o + j * HS + c]
        wk[o + j * HS + c] += row[j] * q[o + i * HS + c]
      }
    }
  }
  close('attentionBackward dq', dq, wq)
  close('attentionBackward dk', dk, wk)
  close('attentionBackward dv', dv, wv)
}
{
  // LiGO materialisation of one tensor (native/ligo_grow.cc), forward and backward, against plain JS formulas:
  // X0 = Σ c_j W_j; X1 = N ⊙ [Tr X0; Mr X0]; Y = f [X1 Tcᵀ, X1 Mcᵀ]; tails on every vector length.
  const [L, r1, c1, r2, c2, f] = [3, 5, 19, 7, 37, 0.75]
  const W = [rnd(r1 * c1), rnd(r1 * c1), rnd(r1 * c1)], c = rnd(L)
  const Mr = rnd((r2 - r1) * r1), Tr = rnd(r1 * r1), Nr = rnd(r2), Mc = rnd((c2 - c1) * c1), Tc = rnd(c1 * c1)
  // C[m,n] = op(A)·op(B), row-major; op(A) [m,k] (A stored [k,m] when ta).
  const mm = (A, B, m, k, n, ta = false, tb = false) => {
    const C = new Float64Array(m * n)
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0
      for (let q = 0; q < k; q++) s += (ta ? A[q * m + i] : A[i * k + q]) * (tb ? B[j * k + q] : B[q * n + j])
      C[i * n + j] = s
    }
    return C
  }
  const X0 = new Float64Array(r1 * c1)
  for (let j = 0; j < L; j++) for (let i = 0; i < r1 * c1; i++) X0[i] += c[j] * W[j][i]
  const X1 = new Float64Array(r2 * c1)
  X1.set(mm(Tr, X0, r1, r1, c1))
  X1.set(mm(Mr, X0, r2 - r1, r1, c1), r1 * c1)
  for (let i = 0; i < r2; i++) for (let q = 0; q < c1; q++) X1[i * c1 + q] *= Nr[i]
  const top = mm(X1, Tc, r2, c1, c1, false, true), bot = mm(X1, Mc, r2, c1, c2 - c1, false, true)
  const Y = new Float64Array(r2 * c2)
  for (let i = 0; i < r2; i++) for (let q = 0; q < c2; q++) Y[i * c2 + q] = f * (q < c1 ? top[i * c1 + q] : bot[i * (c2 - c1) + q - c1])
  const out = new Float32Array(r2 * c2)
  addon.ligoGrowForward(W, c, r1, c1, r2, c2, Mr, Tr, Nr, Mc, Tc, f, out)
  close('ligoGrowForward', out, Y)

  const G = rnd(r2 * c2)
  const Gt = new Float64Array(r2 * c1), Gb = new Float64Array(r2 * (c2 - c1))
  for (let i = 0; i < r2; i++) for (let q = 0; q < c2; q++) {
    if (q < c1) Gt[i * c1 + q] = G[i * c2 + q]
    else Gb[i * (c2 - c1) + q - c1] = G[i * c2 + q]
  }
  const dMc = mm(Gb, X1, c2 - c1, r2, c1, true).map((v) => f * v), dTc = mm(Gt, X1, c1, r2, c1, true).map((v) => f * v)
  const G1 = mm(Gt, Tc, r2, c1, c1), G1b = mm(Gb, Mc, r2, c2 - c1, c1)
  for (let i = 0; i < r2 * c1; i++) G1[i] = f * (G1[i] + G1b[i]) * Nr[Math.floor(i / c1)]
  const dMr = mm(G1.subarray(r1 * c1), X0, r2 - r1, c1, r1, false, true), dTr = mm(G1.subarray(0, r1 * c1), X0, r1, c1, r1, false, true)
  const G0 = mm(Tr, G1.subarray(0, r1 * c1), r1, r1, c1, true), G0b = mm(Mr, G1.subarray(r1 * c1), r1, r2 - r1, c1, true)
  const dc = Array.from(W, (w) => w.reduce((a, v, i) => a + v * (G0[i] + G0b[i]), 0))
  const got = {dc: new Float32Array(L), dMr: new Float32Array(dMr.length), dTr: new Float32Array(r1 * r1), dMc: new Float32Array(dMc.length),
    dTc: new Float32Array(c1 * c1)}
  addon.ligoGrowBackward(W, c, r1, c1, r2, c2, Mr, Tr, Nr, Mc, Tc, f, G, got.dc, got.dMr, got.dTr, got.dMc, got.dTc)
  for (const [k, want] of Object.entries({dc, dMr, dTr, dMc, dTc})) close(`ligoGrowBackward ${k}`, got[k], want, 1e-3)

  // Gradient accumulation: exactly JavaScript's acc[i] += scale * g[i].
  const acc = rnd(1001), g = rnd(1001), want = Float32Array.from(acc)
  for (let i = 0; i < want.length; i++) want[i] += (1 / 3) * g[i]
  addon.accumulateScaled(acc, g, 1 / 3)
  for (let i = 0; i < acc.length; i++) if (acc[i] !== want[i]) { failures.push(`accumulateScaled[${i}]: ${acc[i]} vs ${want[i]}`); break }
}
console.log(JSON.stringify({isa: addon.info().isa, failures}))
