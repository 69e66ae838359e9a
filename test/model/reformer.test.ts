// Reformer's memory savers (issue #7): reversible blocks, chunked FFN and loss, shared-QK LSH attention.
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {initBackend} from '../../src/compute/backend.js'
import {lshAttention, lshAttentionReference, lshPlan, sharedQkAttention} from '../../src/compute/lsh.js'
import {loadNative} from '../../src/compute/native.js'
import {type Gpt2Config, type Gpt2ForwardOptions, gpt2Loss} from '../../src/model/gpt2.js'
import {forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {TINY_MODEL, runMetrics, smallBrown, tinyRun, tmpDir, useCpu} from '../helpers.js'
import {mulberry32} from '../prng.js'

beforeAll(useCpu)

const gpt = (extra: Record<string, unknown> = {}) => modelConfig({...TINY_MODEL, ...extra}) as Gpt2Config

function ids(n: number, salt = 0): Int32Array {
  return Int32Array.from({length: n}, (_, i) => (i * 37 + 11 + salt * 101) % 256)
}

/** Init weights moved off 1/0 gains and biases (their gradients would be degenerate), the same for every config. */
function weights(c: Gpt2Config, seed = 1): Map<string, Float32Array> {
  const w = initWeights(schemaOf(c), seed)
  return new Map([...w].map(([k, v]) => [k, Float32Array.from(v, (a, i) => a + 0.05 * Math.sin(i * 1.7 + k.length))]))
}

interface LossGrads {
  loss: number
  grads: Map<string, Float32Array>
}

function lossAndGrads(c: Gpt2Config, w: Map<string, Float32Array>, B: number, T: number, opts: Gpt2ForwardOptions = {}): LossGrads {
  const schema = schemaOf(c)
  const names = schema.map((s) => s.name)
  const x = ids(B * T)
  const y = ids(B * T, 3)
  const [loss, ...grads] = tf.tidy(() => {
    const f = (...ts: tf.Tensor[]) => gpt2Loss(c, new Map(names.map((n, i) => [n, ts[i]])), x, y, B, T, opts)
    const {value, grads} = tf.valueAndGrads(f)(names.map((n, i) => tf.tensor(w.get(n)!, schema[i].shape)))
    return [value.dataSync()[0], ...grads.map((g) => Float32Array.from(g.dataSync()))]
  }) as [number, ...Float32Array[]]
  return {loss, grads: new Map(names.map((n, i) => [n, grads[i]]))}
}

/** Per tensor: max |a − b| ≤ atol + rtol·max|b| (float32 noise scales with the tensor's gradient size). */
function expectSameGrads(a: LossGrads, b: LossGrads, rtol: number, atol = 1e-7): void {
  expect(Math.abs(a.loss - b.loss), `loss ${a.loss} vs ${b.loss}`).toBeLessThan(1e-5)
  for (const [name, gb] of b.grads) {
    const ga = a.grads.get(name)!
    let maxDiff = 0
    let maxAbs = 0
    for (let i = 0; i < gb.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ga[i] - gb[i]))
      maxAbs = Math.max(maxAbs, Math.abs(gb[i]))
    }
    expect(maxDiff, `${name}: max diff ${maxDiff}, max |grad| ${maxAbs}`).toBeLessThanOrEqual(atol + rtol * maxAbs)
  }
}

describe('reformer config', () => {
  it('defaults to the standard model and validates the new keys', () => {
    expect(gpt()).toMatchObject({reversible: false, ffn_chunks: 1, loss_chunks: 1, attention: 'full', lsh_buckets: 0, lsh_chunk: 64, lsh_hashes: 2})
    expect(() => gpt({lsh_buckets: 3})).toThrow(/model\.lsh_buckets.*0 \(from the length and lsh_chunk\), 1, or an even number/)
    expect(() => gpt({attention: 'sparse'})).toThrow(/model\.attention.*one of full, lsh/)
    expect(() => gpt({ffn_chunks: 0})).toThrow(/model\.ffn_chunks/)
    expect(() => gpt({reversible: 'yes'})).toThrow(/model\.reversible.*true or false/)
  })

  it('keeps the parameter set: the schema is the standard one', () => {
    const std = schemaOf(gpt())
    expect(schemaOf(gpt({reversible: true, attention: 'lsh', ffn_chunks: 4, loss_chunks: 4}))).toEqual(std)
  })

  it('maps the override flags to model keys', () => {
    const r = resolveRunConfig({model: TINY_MODEL, train: {seq: 16}}, {
      reversible: true, 'ffn-chunks': 2, 'loss-chunks': 3, attention: 'lsh', 'lsh-buckets': 4, 'lsh-hashes': 6,
    })
    expect(r.model).toMatchObject({reversible: true, ffn_chunks: 2, loss_chunks: 3, attention: 'lsh', lsh_buckets: 4, lsh_hashes: 6})
    expect(() => resolveRunConfig({model: TINY_MODEL}, {'lsh-buckets': 5})).toThrow(/--lsh-buckets 5: expected 0 \(from the length and lsh_chunk\), 1, or an even number/)
  })
})

describe('reversible blocks', () => {
  const B = 2
  const T = 8

  it('custom gradient (reconstructing activations) equals autodiff of the same forward', () => {
    for (const extra of [{}, {ffn_chunks: 3}, {tie_embeddings: false, loss_chunks: 3}]) {
      const c = gpt({n_layer: 3, reversible: true, ...extra})
      const w = weights(c)
      const custom = lossAndGrads(c, w, B, T)
      const auto = lossAndGrads(c, w, B, T, {reversible: 'autodiff'})
      expectSameGrads(custom, auto, 2e-5)
    }
  })

  it('with LSH attention too (the recomputation reuses the forward pass buckets)', () => {
    const c = gpt({n_layer: 3, reversible: true, attention: 'lsh', lsh_buckets: 4, lsh_hashes: 2, ffn_chunks: 2})
    const w = weights(c)
    const custom = lossAndGrads(c, w, B, T)
    expectSameGrads(custom, lossAndGrads(c, w, B, T, {reversible: 'autodiff'}), 2e-5)
    // The unused key projections get zero gradients.
    expect(custom.grads.get('h.1.attn.k_proj.weight')!.every((g) => g === 0)).toBe(true)
  })

  it('is a different function from the standard model with the same weights, near ln V at init', () => {
    const w = weights(gpt({n_layer: 3}))
    const std = lossAndGrads(gpt({n_layer: 3}), w, B, T).loss
    const rev = lossAndGrads(gpt({n_layer: 3, reversible: true}), w, B, T).loss
    expect(rev).not.toBeCloseTo(std, 4)
    expect(Math.abs(rev - Math.log(256))).toBeLessThan(0.3)
  })

  it('has gradients that match finite differences (directional derivative per tensor)', () => {
    const c = gpt({n_layer: 3, reversible: true, ffn_chunks: 2})
    const w0 = weights(c)
    const schema = schemaOf(c)
    const x = ids(B * T)
    const y = ids(B * T, 3)
    const loss = (ws: Map<string, Float32Array>) =>
      tf.tidy(() => gpt2Loss(c, new Map(schema.map((s) => [s.name, tf.tensor(ws.get(s.name)!, s.shape)])), x, y, B, T).dataSync()[0])
    const {grads} = lossAndGrads(c, w0, B, T)
    const eps = 1e-3
    for (const {name: n} of schema) {
      const size = w0.get(n)!.length
      const dir = new Float32Array(size)
      for (let k = 0; k < Math.min(24, size); k++) dir[Math.floor(((k + 0.5) * size) / Math.min(24, size))] = k % 3 === 0 ? -1 : 1
      const shift = (s: number) => new Map([...w0].map(([k, v]) => [k, k === n ? Float32Array.from(v, (a, j) => a + s * dir[j]) : v]))
      const numeric = (loss(shift(eps)) - loss(shift(-eps))) / (2 * eps)
      let analytic = 0
      for (let j = 0; j < size; j++) analytic += grads.get(n)![j] * dir[j]
      expect(Math.abs(numeric - analytic), `${n}: numeric ${numeric} vs analytic ${analytic}`).toBeLessThan(3e-4 + 0.015 * Math.abs(analytic))
    }
  })
})

describe('chunked FFN and loss', () => {
  it('give the standard model values and gradients (N not a multiple of the chunk count)', () => {
    for (const extra of [{}, {tie_embeddings: false}, {param: 'mup', base_d_model: 8, base_head_size: 4, base_d_ffn: 16}]) {
      const w = weights(gpt(extra))
      const plain = lossAndGrads(gpt(extra), w, 3, 7)
      const chunked = lossAndGrads(gpt({...extra, ffn_chunks: 4, loss_chunks: 5}), w, 3, 7)
      expectSameGrads(chunked, plain, 1e-5)
    }
  })
})

describe('shared-QK LSH attention', () => {
  const r = (seed: number) => {
    const u = mulberry32(seed)
    return () => u() - 0.5
  }
  const rand = (shape: [number, number, number, number], seed: number, scale = 2) => {
    const g = r(seed)
    return tf.tensor4d(Float32Array.from({length: shape.reduce((a, b) => a * b)}, () => scale * g()), shape)
  }
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])

  it('equals full shared-QK attention when one chunk covers the sequence (1 or 2 buckets, or m ≥ T)', () => {
    tf.tidy(() => {
      const qk = rand([2, 2, 16, 8], 1)
      const v = rand([2, 2, 16, 8], 2)
      const full = sharedQkAttention(qk, v, 0.35)
      for (const [buckets, hashes, chunk] of [[1, 1, undefined], [2, 1, undefined], [2, 3, undefined], [8, 4, 16]] as const) {
        const got = lshAttention(qk, v, 0.35, lshPlan(qk, {buckets, hashes, chunk}))
        expect(maxDiff(got, full), `buckets ${buckets}, hashes ${hashes}`).toBeLessThan(2e-6)
      }
    })
  })

  it('fused chunk attention (manual backward, mask row by row) equals the plain tfjs reference, value and gradient', () => {
    // T = 13 with chunk 4: a padded last chunk; 3 rounds: duplicate counts.
    for (const [shape, buckets, hashes, chunk] of [[[2, 2, 13, 4], 4, 3, 4], [[1, 3, 16, 8], 8, 1, undefined]] as const) {
      const qk0 = rand([...shape], 11)
      const v0 = rand([...shape], 12)
      const proj = rand([...shape], 13)
      const plan = lshPlan(qk0, {buckets, hashes, chunk})
      const run = (attn: typeof lshAttention) => tf.tidy(() => {
        const f = (qk: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(attn(qk as tf.Tensor4D, v as tf.Tensor4D, 0.6, plan), proj))
        const {value, grads} = tf.valueAndGrads(f)([qk0, v0])
        return [value.dataSync()[0], ...grads.map((g) => Array.from(g.dataSync()))] as [number, number[], number[]]
      })
      const [va, ...ga] = run(lshAttention)
      const [vb, ...gb] = run(lshAttentionReference)
      expect(va).toBeCloseTo(vb, 4)
      for (let k = 0; k < 2; k++) for (let i = 0; i < gb[k].length; i++) expect(Math.abs(ga[k][i] - gb[k][i])).toBeLessThan(1e-5 + 1e-4 * Math.abs(gb[k][i]))
    }
  })

  it('approaches full attention as hash rounds are added', () => {
    const errs = tf.tidy(() => {
      const qk = rand([1, 2, 64, 16], 3)
      const v = rand([1, 2, 64, 16], 4)
      const full = sharedQkAttention(qk, v, 0.5)
      const norm = tf.mean(tf.abs(full)).dataSync()[0]
      return [1, 2, 4, 8, 16].map((H) => {
        const got = lshAttention(qk, v, 0.5, lshPlan(qk, {buckets: 16, hashes: H, salt: 7}))
        return tf.mean(tf.abs(tf.sub(got, full))).dataSync()[0] / norm
      })
    })
    for (let i = 1; i < errs.length; i++) expect(errs[i], `errors by rounds 1,2,4,8,16: ${errs.map((e) => e.toFixed(4))}`).toBeLessThan(errs[i - 1])
    expect(errs.at(-1)!).toBeLessThan(0.25 * errs[0])
  })

  it('mixes only earlier values, and itself only when nothing else is available', () => {
    tf.tidy(() => {
      const T = 32
      const qk = rand([1, 2, T, T], 5)
      // v_j = e_j: output row t is the attention distribution of query t.
      const eye = tf.tile(tf.reshape(tf.eye(T), [1, 1, T, T]), [1, 2, 1, 1]) as tf.Tensor4D
      const plan = lshPlan(qk, {buckets: 8, hashes: 3})
      const p = lshAttention(qk, eye, 0.5, plan).arraySync()
      for (const row of p[0]) {
        row.forEach((dist, t) => {
          expect(dist.reduce((a, b) => a + b), `row ${t} sums to 1`).toBeCloseTo(1, 5)
          for (let j = t + 1; j < T; j++) expect(dist[j]).toBe(0)
          if (t > 0 && dist.slice(0, t).some((x) => x > 1e-3)) expect(dist[t]).toBeLessThan(1e-6)
        })
        expect(row[0][0]).toBeCloseTo(1, 6)
      }
    })
  })

  it('has gradients (for a fixed bucket plan) that match finite differences', () => {
    const shape: [number, number, number, number] = [1, 2, 12, 4]
    const qk0 = rand(shape, 6)
    const v0 = rand(shape, 7)
    const proj = rand(shape, 8)
    const plan = lshPlan(qk0, {buckets: 4, hashes: 2, chunk: 3})
    const f = (qk: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(lshAttention(qk as tf.Tensor4D, v as tf.Tensor4D, 0.7, plan), proj))
    const [gq, gv] = tf.grads(f)([qk0, v0])
    const dir = rand(shape, 9)
    const eps = 1e-2
    for (const [which, g] of [[0, gq], [1, gv]] as const) {
      const at = (s: number) => tf.tidy(() => {
        const moved = tf.add(which === 0 ? qk0 : v0, tf.mul(dir, s))
        return f(which === 0 ? moved : qk0, which === 0 ? v0 : moved).dataSync()[0]
      })
      const numeric = (at(eps) - at(-eps)) / (2 * eps)
      const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0]
      expect(Math.abs(numeric - analytic), `${which ? 'v' : 'qk'}: numeric ${numeric} vs analytic ${analytic}`).toBeLessThan(2e-3 + 0.01 * Math.abs(analytic))
    }
  })

  it('runs in the model: logits of shape [B·T, V], finite, loss near ln V at init', () => {
    const c = gpt({attention: 'lsh', lsh_buckets: 4, lsh_hashes: 2})
    const w = weights(c)
    const {loss, grads} = lossAndGrads(c, w, 2, 16)
    expect(Math.abs(loss - Math.log(256))).toBeLessThan(0.3)
    for (const [name, g] of grads) expect(g.every(Number.isFinite), name).toBe(true)
    tf.tidy(() => {
      const schema = schemaOf(c)
      const logits = forward(c, new Map(schema.map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)])), ids(32), 2, 16)
      expect(logits.shape).toEqual([32, 256])
    })
  })

  it('serves generation (any length, down to 1) and coordinate-check probes, reversible too', () => {
    const c = gpt({attention: 'lsh', lsh_buckets: 4, reversible: true})
    const w = weights(c)
    tf.tidy(() => {
      const p = new Map(schemaOf(c).map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)]))
      for (const T of [1, 5, 16]) expect(forward(c, p, ids(T), 1, T).shape).toEqual([T, 256])
      const seen = new Map<string, number[]>()
      const logits = forward(c, p, ids(16), 1, 16, (name, t) => seen.set(name, t.shape))
      expect([...seen.keys()]).toEqual(['embed', 'h.0.attn_logits', 'h.0.out', 'h.1.attn_logits', 'h.1.out', 'logits'])
      expect(seen.get('h.1.attn_logits')).toEqual([1, 2, 16, 16])
      // Probing runs the plain forward; the values are the same.
      expect(maxDiff(logits, forward(c, p, ids(16), 1, 16))).toBeLessThan(1e-6)
    })
  })
})

describe('training with the savers on', () => {
  let data: string
  beforeAll(async () => {
    data = await smallBrown()
  })

  for (const [what, model] of [
    ['LSH attention', {attention: 'lsh', lsh_buckets: 4, lsh_hashes: 2}],
    ['reversible + LSH + chunked FFN and loss', {reversible: true, attention: 'lsh', lsh_buckets: 4, ffn_chunks: 2, loss_chunks: 2}],
  ] as const) {
    it(`lowers the loss on real text: ${what}`, async () => {
      const out = path.join(tmpDir(), 'run')
      await train({config: tinyRun({steps: 30, batch: 8}, model), dataDir: data, outDir: out})
      const rows = runMetrics(out)
      const first = rows.slice(0, 5).reduce((a, m) => a + m.loss, 0) / 5
      const last = rows.slice(-5).reduce((a, m) => a + m.loss, 0) / 5
      expect(last, `first ${first}, last ${last}`).toBeLessThan(first - 0.8)
    })
  }
})

const native = loadNative().addon
describe.skipIf(!native)('native backend', () => {
  afterAll(useCpu)

  it('reversible custom gradient matches autodiff, and chunked loss matches cpu', async () => {
    const c = gpt({n_layer: 3, reversible: true, ffn_chunks: 2, loss_chunks: 3})
    const w = weights(c)
    const cpu = lossAndGrads(c, w, 2, 8, {reversible: 'autodiff'})
    await initBackend('native')
    expect(tf.getBackend()).toBe('native')
    const custom = lossAndGrads(c, w, 2, 8)
    expectSameGrads(custom, lossAndGrads(c, w, 2, 8, {reversible: 'autodiff'}), 2e-5)
    expectSameGrads(custom, cpu, 1e-4)
    const lsh = gpt({n_layer: 2, reversible: true, attention: 'lsh', lsh_buckets: 4})
    expectSameGrads(lossAndGrads(lsh, weights(lsh), 2, 16), lossAndGrads(lsh, weights(lsh), 2, 16, {reversible: 'autodiff'}), 2e-5)
  })
})
