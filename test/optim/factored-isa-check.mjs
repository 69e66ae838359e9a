// Child process for factored-native.test.ts: runs the addon's CAME/Adafactor kernels (native/optim_factored.cc)
// for a few steps on fixed inputs under whatever LIGO_ISA caps the dispatch at (avx512 → avx2 → scalar), and prints
// one JSON line {isa, out: {name: number[]}} with the final weights and states, for the parent to compare across ISAs.
import {createRequire} from 'node:module'
import {join} from 'node:path'

const addon = createRequire(import.meta.url)(join(process.argv[2], 'build', 'Release', 'ligo_native.node'))
let seed = 7
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5
const vec = (n, f) => Float32Array.from({length: n}, f)
const out = {}
const save = (prefix, tensors) => {
  for (const [k, v] of Object.entries(tensors)) if (v) out[`${prefix}.${k}`] = Array.from(v)
}

// Non-square matrices (one batch of two, one large enough for two row blocks) and a vector of odd length.
for (const [M, R, C] of [[1, 24, 37], [2, 9, 16], [1, 260, 257]]) {
  const n = M * R * C
  const rowScale = vec(M * R, () => Math.exp(4 * rnd()))
  const colScale = vec(M * C, () => Math.exp(4 * rnd()))
  const grad = () => vec(n, (_, k) => {
    const c = k % C, r = Math.floor(k / C), mi = Math.floor(r / R)
    return 1e-3 * rowScale[r] * colScale[mi * C + c] * (1 + 0.3 * rnd())
  })
  const w0 = vec(n, () => 0.1 * rnd())
  const came = {w: Float32Array.from(w0), m: new Float32Array(n), vRow: new Float32Array(M * R), vCol: new Float32Array(M * C),
    resRow: new Float32Array(M * R), resCol: new Float32Array(M * C)}
  const ada = {w: Float32Array.from(w0), m: new Float32Array(n), vRow: new Float32Array(M * R), vCol: new Float32Array(M * C)}
  const ada0 = {w: Float32Array.from(w0), vRow: new Float32Array(M * R), vCol: new Float32Array(M * C)}
  for (let t = 1; t <= 4; t++) {
    const g = grad()
    addon.cameUpdateMatrix(came.w, g, came.m, came.vRow, came.vCol, came.resRow, came.resCol, M, R, C, 0.01, 1 - 0.01 * 0.1, 0.9,
      0.999, 0.9999, 1e-30, 1e-16, 1)
    const b2 = 1 - Math.pow(t, -0.8)
    addon.adafactorUpdateMatrix(ada.w, g, ada.m, ada.vRow, ada.vCol, M, R, C, 0.01, 1 - 0.01 * 0.1, 0.9, b2, 1e-30, 1e-3, 1, true)
    addon.adafactorUpdateMatrix(ada0.w, g, null, ada0.vRow, ada0.vCol, M, R, C, 0.01, 1, 0, b2, 1e-30, 1e-3, 0.5, false)
  }
  save(`came ${M}x${R}x${C}`, came)
  save(`adafactor β1 ${M}x${R}x${C}`, ada)
  save(`adafactor ${M}x${R}x${C}`, ada0)
}
{
  const n = 45
  const w0 = vec(n, () => 0.1 * rnd())
  const came = {w: Float32Array.from(w0), m: new Float32Array(n), v: new Float32Array(n)}
  const ada = {w: Float32Array.from(w0), m: new Float32Array(n), v: new Float32Array(n)}
  const ada0 = {w: Float32Array.from(w0), v: new Float32Array(n)}
  for (let t = 1; t <= 4; t++) {
    const g = vec(n, () => 1e-3 * Math.exp(4 * rnd()))
    addon.cameUpdateVector(came.w, g, came.m, came.v, 0.01, 0.999, 0.9, 0.999, 1e-30, 1)
    addon.adafactorUpdateVector(ada.w, g, ada.m, ada.v, 0.01, 0.999, 0.9, 1 - Math.pow(t, -0.8), 1e-30, 1e-3, 1, true)
    addon.adafactorUpdateVector(ada0.w, g, null, ada0.v, 0.01, 1, 0, 1 - Math.pow(t, -0.8), 1e-30, 1e-3, 0.5, false)
  }
  save('came vector', came)
  save('adafactor β1 vector', ada)
  save('adafactor vector', ada0)
}
console.log(JSON.stringify({isa: addon.info().isa, out}))
