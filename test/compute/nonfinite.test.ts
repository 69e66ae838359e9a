// Fast and reference paths agree on non-finite inputs (issue #31): a NaN or ±Inf logit makes the cross-entropy NaN
// on both, a NaN in attention scores spreads to the same outputs, and a model with one NaN weight evaluates to a
// NaN loss on the native backend as it does on cpu (it evaluated to a finite 5.19 before).
import * as tf from '@tensorflow/tfjs-core'
import {describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import * as ops from '../../src/compute/ops.js'
import {modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {lossOnly} from '../../src/train/step.js'
import {native, uniform} from './helpers.js'

/** Runs `f` on the cpu reference and on the native backend; returns both results as plain arrays. */
async function both(f: () => tf.Tensor): Promise<{cpu: Float32Array; fast: Float32Array}> {
  await initBackend('cpu')
  const cpu = tf.tidy(() => Float32Array.from(f().dataSync()))
  await initBackend('native')
  const fast = tf.tidy(() => Float32Array.from(f().dataSync()))
  return {cpu, fast}
}

/** Same NaN positions, and the finite values close. */
function expectSameNonFinite(what: string, a: Float32Array, r: Float32Array): void {
  expect(a.length).toBe(r.length)
  for (let i = 0; i < r.length; i++) {
    expect(Number.isNaN(a[i]), `${what}[${i}]: ${a[i]} vs reference ${r[i]}`).toBe(Number.isNaN(r[i]))
    if (Number.isFinite(r[i])) expect(Math.abs(a[i] - r[i]), `${what}[${i}]`).toBeLessThan(1e-4 * (1 + Math.abs(r[i])))
    else if (!Number.isNaN(r[i])) expect(a[i], `${what}[${i}]`).toBe(r[i])
  }
}

describe.skipIf(!native)('non-finite inputs: native paths agree with the references', () => {
  // V = 99 leaves vector tails on both AVX-512 (16 lanes) and AVX2 (8 lanes); the bad value sits in a tail.
  const [N, V] = [6, 99]
  for (const [name, value] of [['NaN', Number.NaN], ['+Inf', Number.POSITIVE_INFINITY], ['-Inf', Number.NEGATIVE_INFINITY]] as const)
    it(`crossEntropy with one ${name} logit (in a vector tail) is NaN, as on the reference`, async () => {
      const logits = uniform(N * V, 3, -4, 4)
      logits[2 * V + 97] = value
      const targets = Int32Array.from({length: N}, (_, i) => (i * 13) % V)
      const {cpu, fast} = await both(() => ops.crossEntropy(tf.tensor2d(logits, [N, V]), tf.tensor1d(targets, 'int32')))
      expect(cpu[0]).toBeNaN()
      expect(fast[0]).toBeNaN()
      // per row: only the bad row's log-sum-exp is NaN (the kernel, directly)
      const lse = new Float32Array(N)
      native!.crossEntropyForward(logits, targets, N, V, lse)
      expect(Array.from(lse, (l) => Number.isNaN(l))).toEqual([false, false, true, false, false, false])
    })

  it('crossEntropy of finite logits is unchanged (no false alarms at ±60)', async () => {
    const logits = uniform(N * V, 5, -60, 60)
    const targets = Int32Array.from({length: N}, (_, i) => (i * 13) % V)
    const {cpu, fast} = await both(() => ops.crossEntropy(tf.tensor2d(logits, [N, V]), tf.tensor1d(targets, 'int32')))
    expect(Number.isFinite(fast[0])).toBe(true)
    expect(Math.abs(fast[0] - cpu[0])).toBeLessThan(1e-4)
  })

  it('causal attention with a NaN query: the same outputs are NaN on both paths', async () => {
    const shape = [1, 2, 40, 8] as const
    const q = uniform(2 * 40 * 8, 7)
    q[1 * 40 * 8 + 17 * 8 + 3] = Number.NaN // head 1, position 17
    const k = uniform(q.length, 8)
    const v = uniform(q.length, 9)
    const run = (fast: boolean) => () => {
      const [a, b, c] = [q, k, v].map((d) => tf.tensor4d(d, [...shape]))
      return fast ? ops.causalAttention(a, b, c, 0.35) : ops.causalAttentionReference(a, b, c, 0.35)
    }
    const {cpu} = await both(run(false))
    const {fast} = await both(run(true))
    expect(cpu.some(Number.isNaN)).toBe(true)
    expectSameNonFinite('attention', fast, cpu)
  })

  it('softmax rows with a NaN: NaN row, as exp(NaN) is NaN (the clamp no longer turns it into e^-104)', () => {
    const x = uniform(3 * 33, 11)
    x[33 + 30] = Number.NaN
    const y = new Float32Array(x.length)
    native!.softmax(x, 3, 33, y)
    expect(y.slice(33, 66).every(Number.isNaN)).toBe(true)
    expect(y.slice(0, 33).some(Number.isNaN) || y.slice(66).some(Number.isNaN)).toBe(false)
  })

  it('a model with one NaN in wte evaluates to NaN on native as on cpu', async () => {
    const c = modelConfig({vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2, d_ffn: 32})
    const schema = schemaOf(c)
    const w = initWeights(schema, 1)
    // a token that occurs in no input or target: only its logit column (the tied readout) is NaN
    w.get('wte.weight')![63 * 16 + 3] = Number.NaN
    const inputs = Int32Array.from({length: 32}, (_, i) => (i * 5) % 60)
    const batch = {inputs, targets: Int32Array.from(inputs, (t) => (t + 1) % 60), batch: 2, seq: 16}
    await initBackend('cpu')
    expect(lossOnly(c, schema, w, batch)).toBeNaN()
    await initBackend('native')
    expect(lossOnly(c, schema, w, batch)).toBeNaN()
    await initBackend('cpu')
  })
})
