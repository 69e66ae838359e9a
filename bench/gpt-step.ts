/**
 * Superseded by `ligo bench` (src/commands/bench.ts), which times the real model's training step; kept for
 * measuring the compute path alone.
 *
 * Training-step throughput of a GPT-2-style pre-LN decoder built from src/compute/ops.ts (a stand-in for the
 * model code, to measure the compute path): embedding + position embedding, L blocks of LN → attention → LN →
 * GELU MLP, final LN, tied head, mean cross-entropy, AdamW via optim-kernels. Reports the median of timed steps
 * after warm-ups, and with --profile the tfjs kernels that take the most time.
 *   npx tsx bench/gpt-step.ts [--preset a|b|c|d|e] [--backend native|wasm|cpu] [--steps 10] [--profile]
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import * as tf from '@tensorflow/tfjs-core'

import {type BackendName, initBackend} from '../src/compute/backend.js'
import * as ops from '../src/compute/ops.js'
import {adamwStep} from '../src/compute/optim-kernels.js'

const PRESETS = {
  a: {L: 4, C: 128, NH: 4, B: 16},
  b: {L: 4, C: 256, NH: 4, B: 16},
  c: {L: 8, C: 256, NH: 4, B: 16},
  d: {L: 6, C: 512, NH: 8, B: 8},
  e: {L: 12, C: 768, NH: 12, B: 4},
} as const
const T = 128
const V = 256

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}

const presetName = arg('preset', 'a') as keyof typeof PRESETS
const {L, C, NH, B} = PRESETS[presetName]
const HS = C / NH
const N = B * T
const steps = Number(arg('steps', '10'))

const info = await initBackend(arg('backend', 'auto') as BackendName)

const rand = (shape: [number, number], std = 0.02) =>
  tf.variable(tf.mul(tf.randomNormal(shape), std)) as tf.Variable<tf.Rank.R2>
const ones = (n: number) => tf.variable(tf.ones([n])) as tf.Variable<tf.Rank.R1>
const zeros = (n: number) => tf.variable(tf.zeros([n])) as tf.Variable<tf.Rank.R1>
const params = {
  wte: rand([V, C]),
  wpe: rand([T, C], 0.01),
  layers: Array.from({length: L}, () => ({
    ln1g: ones(C), ln1b: zeros(C),
    wqkv: rand([C, 3 * C]), bqkv: zeros(3 * C),
    wo: rand([C, C]), bo: zeros(C),
    ln2g: ones(C), ln2b: zeros(C),
    wfc: rand([C, 4 * C]), bfc: zeros(4 * C),
    wproj: rand([4 * C, C]), bproj: zeros(C),
  })),
  lnfg: ones(C), lnfb: zeros(C),
}
const vars: tf.Variable[] = [params.wte, params.wpe, params.lnfg, params.lnfb,
  ...params.layers.flatMap((l) => Object.values(l) as tf.Variable[])]
const nParams = vars.reduce((s, v) => s + v.size, 0)
const state = vars.map((v) => ({m: new Float32Array(v.size), v: new Float32Array(v.size)}))

const ids = tf.tensor1d(Int32Array.from({length: N}, () => Math.floor(Math.random() * V)), 'int32')
const targets = tf.tensor1d(Int32Array.from({length: N}, () => Math.floor(Math.random() * V)), 'int32')
const pos = tf.tensor1d(Int32Array.from({length: N}, (_, i) => i % T), 'int32')

function loss(): tf.Scalar {
  let x = tf.add(ops.embedding(params.wte, ids), ops.embedding(params.wpe, pos)) as tf.Tensor2D // [N,C]
  for (const l of params.layers) {
    const qkv = ops.linear(ops.layerNorm(x, l.ln1g, l.ln1b), l.wqkv, l.bqkv) // [N,3C]
    const heads = tf.transpose(tf.reshape(qkv, [B, T, 3, NH, HS]), [2, 0, 3, 1, 4]) // [3,B,NH,T,HS]
    const [q, k, v] = tf.split(heads, 3, 0).map((t) => tf.reshape(t, [B, NH, T, HS]) as tf.Tensor4D)
    const y = ops.causalAttention(q, k, v, 1 / Math.sqrt(HS)) // [B,NH,T,HS]
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [N, C]) as tf.Tensor2D
    x = tf.add(x, ops.linear(merged, l.wo, l.bo)) as tf.Tensor2D
    const h = ops.gelu(ops.linear(ops.layerNorm(x, l.ln2g, l.ln2b), l.wfc, l.bfc)) // [N,4C]
    x = tf.add(x, ops.linear(h, l.wproj, l.bproj)) as tf.Tensor2D
  }
  const logits = tf.matMul(ops.layerNorm(x, params.lnfg, params.lnfb), params.wte, false, true) as tf.Tensor2D // [N,V]
  return ops.crossEntropy(logits, targets)
}

let stepNo = 0
function step(): number {
  stepNo++
  return tf.tidy(() => {
    const {value, grads} = tf.variableGrads(loss, vars)
    vars.forEach((v, i) => {
      const g = grads[v.name].dataSync() as Float32Array
      adamwStep(v.dataSync() as Float32Array, g, state[i].m, state[i].v,
        {lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: v.shape.length >= 2 ? 0.1 : 0, step: stepNo})
    })
    return value.dataSync()[0]
  })
}

for (let i = 0; i < 3; i++) step()
const times: number[] = []
let last = 0
for (let i = 0; i < steps; i++) {
  const t0 = performance.now()
  last = step()
  times.push(performance.now() - t0)
}
times.sort((a, b) => a - b)
const ms = times[Math.floor(times.length / 2)]
const nonEmb = nParams - V * C - T * C
const gflop = ((6 * nonEmb + 12 * L * T * C) * N) / 1e9 + (6 * N * C * V) / 1e9 // + tied head
const result = {preset: presetName, L, C, NH, B, T, V, params: nParams, backend: info.name, notes: info.notes,
  msPerStep: ms, tokensPerSec: (N / ms) * 1000, gflops: gflop / (ms / 1000), loss: last, tensors: tf.memory().numTensors,
  rssMiB: process.memoryUsage().rss / 2 ** 20}
console.log(`preset ${presetName} (L${L} C${C} NH${NH} B${B} T${T}, ${(nParams / 1e6).toFixed(2)} M params) on ${info.name}: ` +
  `${ms.toFixed(1)} ms/step, ${result.tokensPerSec.toFixed(0)} tokens/s, ${result.gflops.toFixed(1)} GFLOP/s, ` +
  `loss ${last.toFixed(3)}, rss ${result.rssMiB.toFixed(0)} MiB`)

if (process.argv.includes('--profile')) {
  const prof = await tf.profile(() => {
    step()
  })
  const byName = new Map<string, {ms: number; n: number}>()
  for (const k of prof.kernels) {
    const e = byName.get(k.name) ?? {ms: 0, n: 0}
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0
    e.n++
    byName.set(k.name, e)
  }
  const top = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)
  console.log('top kernels (tf.profile; customGrad ops show as their inner kernels or not at all):')
  for (const [name, e] of top) console.log(`  ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms  ${e.n} calls`)
}

mkdirSync('.bench', {recursive: true})
writeFileSync(join('.bench', `gpt-step-${presetName}-${info.name}.json`), JSON.stringify(result, null, 2) + '\n')
