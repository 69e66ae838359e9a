/**
 * One GPT-2 attention branch, forward + backward (gradients of h and of the q/k/v projection weights), in three
 * wirings on the same inputs, interleaved so machine noise hits all alike:
 *   heads  q, k, v = 3 linears → reshape/transpose to [B,NH,T,HS] → causalAttention → transpose/reshape back
 *   rows   q, k, v = 3 linears [B·T, NH·HS] → causalAttentionRows (no transposes)
 *   qkv    qkv = one linear on concat(Wq, Wk, Wv) [B·T, 3·NH·HS] → causalAttentionQkv
 * Reports the median ms per branch (forward + backward) of each.
 *   npx tsx bench/attention-layout.ts [--preset a|b|c|d] [--reps 30]
 */
import * as tf from '@tensorflow/tfjs-core'

import {initBackend} from '../src/compute/backend.js'
import * as ops from '../src/compute/ops.js'

const PRESETS = {
  a: {C: 128, NH: 4, B: 16},
  b: {C: 256, NH: 4, B: 16},
  c: {C: 256, NH: 4, B: 16},
  d: {C: 512, NH: 8, B: 8},
} as const
const T = 128

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}

const preset = arg('preset', 'a') as keyof typeof PRESETS
const reps = Number(arg('reps', '30'))
const {C, NH, B} = PRESETS[preset]
const HS = C / NH
const N = B * T
const scale = 1 / Math.sqrt(HS)

await initBackend('native')
const h = tf.randomNormal([N, C]) as tf.Tensor2D
const w = [0, 1, 2].map(() => tf.mul(tf.randomNormal([C, C]), 0.05) as tf.Tensor2D)
const b = [0, 1, 2].map(() => tf.zeros([C]) as tf.Tensor1D)
const R = tf.randomNormal([N, C])

type Wiring = (h: tf.Tensor2D, w: tf.Tensor2D[], b: tf.Tensor1D[]) => tf.Tensor2D
const heads = (y: tf.Tensor2D) => tf.transpose(tf.reshape(y, [B, T, NH, HS]), [0, 2, 1, 3]) as tf.Tensor4D
const wirings: Record<string, Wiring> = {
  heads: (x, [wq, wk, wv], [bq, bk, bv]) => {
    const a = ops.causalAttention(heads(ops.linear(x, wq, bq)), heads(ops.linear(x, wk, bk)),
      heads(ops.linear(x, wv, bv)), scale)
    return tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [N, C]) as tf.Tensor2D
  },
  rows: (x, [wq, wk, wv], [bq, bk, bv]) =>
    ops.causalAttentionRows(ops.linear(x, wq, bq), ops.linear(x, wk, bk), ops.linear(x, wv, bv), B, NH, scale),
  qkv: (x, ws, bs) =>
    ops.causalAttentionQkv(ops.linear(x, tf.concat(ws, 1) as tf.Tensor2D, tf.concat(bs) as tf.Tensor1D), B, NH, scale),
}

const step = (fn: Wiring) =>
  tf.tidy(() => {
    const g = tf.grads((x: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor) =>
      tf.sum(tf.mul(fn(x as tf.Tensor2D, [wq, wk, wv] as tf.Tensor2D[], b), R)) as tf.Scalar)([h, ...w])
    g.forEach((t) => t.dataSync())
  })

const times: Record<string, number[]> = Object.fromEntries(Object.keys(wirings).map((k) => [k, []]))
for (let r = -3; r < reps; r++) {
  for (const [name, fn] of Object.entries(wirings)) {
    const t0 = performance.now()
    step(fn)
    if (r >= 0) times[name].push(performance.now() - t0)
  }
}
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]
console.log(`attention branch fwd+bwd, preset ${preset} (B ${B}, T ${T}, C ${C}, NH ${NH}), median of ${reps}:`)
for (const [name, t] of Object.entries(times)) {
  console.log(`  ${name.padEnd(6)} ${median(t).toFixed(2)} ms  (min ${Math.min(...t).toFixed(2)})`)
}
