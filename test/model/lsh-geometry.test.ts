/**
 * LSH attention's geometry (issue #31): a fixed chunk length with the bucket count derived from the length (trax's
 * rule, factorised beyond 128 buckets), so the work per token no longer grows with T; factorised hashing; configs
 * saved before lsh_chunk existed keep the function they were trained with; the unused key projections are out of
 * the optimizer.
 */
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {lshAutoBuckets, lshBuckets, lshGeometry, lshPlan} from '../../src/compute/lsh.js'
import {type Gpt2Config, gpt2Loss} from '../../src/model/gpt2.js'
import {modelConfig, schemaOf, unusedParams} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {initStds} from '../../src/mup/index.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {TINY_MODEL, smallBrown, tinyRun, tmpDir, useCpu} from '../helpers.js'

beforeAll(useCpu)

const randomQk = (B: number, NH: number, T: number, HS: number, seed = 1) => {
  let s = seed
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1
  return tf.tensor4d(Float32Array.from({length: B * NH * T * HS}, r), [B, NH, T, HS])
}

describe('LSH buckets and chunk length', () => {
  it('derives the buckets from the length as trax does: 2·⌊T/m⌋, two even power-of-two factors beyond 128', () => {
    expect(lshAutoBuckets(4096, 64)).toBe(128)
    expect(lshAutoBuckets(100, 64)).toBe(2)
    expect(lshAutoBuckets(32, 64)).toBe(2)
    expect(lshAutoBuckets(8192, 64)).toEqual([16, 16])
    expect(lshAutoBuckets(4160, 64)).toEqual([16, 8]) // 130 buckets: rounded down to factors, as trax
    expect(lshAutoBuckets(2 ** 20, 64)).toEqual([256, 128])
  })

  it('keeps the chunk (and so the keys per query) fixed as the length grows', () => {
    const c = modelConfig({...TINY_MODEL, attention: 'lsh'}) as Gpt2Config
    expect(c).toMatchObject({lsh_buckets: 0, lsh_chunk: 64})
    for (const T of [256, 1024, 4096, 16384]) {
      const g = lshGeometry(T, c)
      expect(g.chunk, `T ${T}`).toBe(64) // a query sees at most 2·64 keys: linear in T
      const nb = typeof g.buckets === 'number' ? g.buckets : g.buckets.reduce((a, b) => a * b, 1)
      expect(nb, `T ${T}`).toBe(2 * (T / 64))
    }
    expect(lshGeometry(40, c)).toEqual({buckets: 2, chunk: 40}) // shorter than a chunk: one chunk, full shared-QK
    const qk = randomQk(1, 1, 1024, 8)
    expect(lshPlan(qk, {...lshGeometry(1024, c), hashes: 2})).toMatchObject({m: 64, nc: 16})
  })

  it('reads a config that fixed the buckets without lsh_chunk (saved before it existed) with the paper\'s chunk 2T/nb', () => {
    const old = modelConfig({...TINY_MODEL, attention: 'lsh', lsh_buckets: 8}) as Gpt2Config
    expect(old).toMatchObject({lsh_buckets: 8, lsh_chunk: 0})
    expect(lshGeometry(256, old)).toEqual({buckets: 8, chunk: 64})
    expect(lshGeometry(4096, old)).toEqual({buckets: 8, chunk: 1024})
    expect(lshGeometry(4096, modelConfig({...TINY_MODEL, lsh_buckets: 16, lsh_chunk: 32}) as Gpt2Config)).toEqual({buckets: 16, chunk: 32})
    expect(() => modelConfig({lsh_buckets: 0, lsh_chunk: 0})).toThrow(/model\.lsh_chunk.*a chunk length ≥ 1 when lsh_buckets is 0/)
    // ...and computes the loss it computed before this change (pinned on the previous code)
    const c = modelConfig({...TINY_MODEL, n_positions: 32, attention: 'lsh', lsh_buckets: 4, lsh_hashes: 2}) as Gpt2Config
    const loss = lossOf(c)
    expect(Math.abs(loss - PINNED_OLD_LOSS)).toBeLessThan(1e-6)
  })

  it('switching a config to --attention lsh takes the current LSH defaults unless given', () => {
    const saved = {...TINY_MODEL, attention: 'full', lsh_buckets: 8} // what every full-attention checkpoint stored
    expect(resolveRunConfig({model: saved, train: {seq: 16}}, {attention: 'lsh'}).model).toMatchObject({lsh_buckets: 0, lsh_chunk: 64})
    expect(resolveRunConfig({model: saved, train: {seq: 16}}, {attention: 'lsh', 'lsh-buckets': 4}).model).toMatchObject({lsh_buckets: 4, lsh_chunk: 0})
    expect(resolveRunConfig({model: {...saved, attention: 'lsh'}, train: {seq: 16}}, {attention: 'lsh'}).model).toMatchObject({lsh_buckets: 8, lsh_chunk: 0})
  })
})

describe('factorised hashing', () => {
  it('combines one digit per factor, each the angular hash of its own rotation block', () => {
    const T = 400
    const qk = randomQk(1, 1, T, 16, 3)
    const {bucket, nb} = lshBuckets(qk, {buckets: [4, 8], hashes: 1, salt: 2})
    expect(nb).toBe(32)
    expect(new Set(bucket).size).toBe(32) // every (digit, digit) pair occurs: the digits vary independently
    // −x flips the sign of every projection: each digit d of factor f becomes (d + f/2) mod f.
    const neg = lshBuckets(tf.neg(qk) as tf.Tensor4D, {buckets: [4, 8], hashes: 1, salt: 2}).bucket
    for (let t = 0; t < T; t++) {
      const [d1, d2] = [bucket[t] % 4, Math.floor(bucket[t] / 4)]
      expect(neg[t]).toBe(((d1 + 2) % 4) + 4 * ((d2 + 4) % 8))
    }
    // scale invariance, and one factor is the unfactorised hash
    expect(lshBuckets(tf.mul(qk, 3.5) as tf.Tensor4D, {buckets: [4, 8], hashes: 1, salt: 2}).bucket).toEqual(bucket)
    expect(lshBuckets(qk, {buckets: [8], hashes: 2}).bucket).toEqual(lshBuckets(qk, {buckets: 8, hashes: 2}).bucket)
    expect(() => lshBuckets(qk, {buckets: [4, 3], hashes: 1})).toThrow(/expected 1 or an even number/)
  })

  it('runs end to end at a length that factorises (T 8192 → [16, 16] buckets at chunk 64)', () => {
    const qk = randomQk(1, 1, 8192, 4)
    const g = lshGeometry(8192, {lsh_buckets: 0, lsh_chunk: 64})
    expect(g.buckets).toEqual([16, 16])
    const plan = lshPlan(qk, {...g, hashes: 1})
    expect(plan).toMatchObject({m: 64, nc: 128})
    expect(lshGeometry(8256, {lsh_buckets: 0, lsh_chunk: 64}).buckets).toEqual([32, 8]) // 258 → 256, as trax rounds
  })
})

describe('the unused key projections under LSH', () => {
  it('are listed, so training gives them no optimizer state and no weight decay', () => {
    const lsh = modelConfig({...TINY_MODEL, attention: 'lsh'})
    expect([...unusedParams(lsh)].sort()).toEqual(['h.0.attn.k_proj.bias', 'h.0.attn.k_proj.weight', 'h.1.attn.k_proj.bias', 'h.1.attn.k_proj.weight'])
    expect(unusedParams(modelConfig(TINY_MODEL)).size).toBe(0)
    expect(unusedParams(modelConfig({...TINY_MODEL, family: 'llama'})).size).toBe(0)
  })

  it('keep their weights through training (no weight decay) and have no optimizer state', async () => {
    const out = path.join(tmpDir(), 'run')
    const config = tinyRun({steps: 3, weight_decay: 0.5, lr: 0.01}, {attention: 'lsh'})
    await train({config, dataDir: await smallBrown(), outDir: out})
    const ck = loadCheckpoint(out, {optimizer: true})
    const init = initWeights(schemaOf(config.model), config.train.seed, initStds(config.model, schemaOf(config.model)))
    for (const n of unusedParams(config.model)) {
      expect(ck.weights.get(n), n).toEqual(init.get(n))
      expect([...ck.optimizer!.keys()].some((k) => k.endsWith(`.${n}`)), n).toBe(false)
    }
    expect(ck.weights.get('h.0.attn.q_proj.weight')).not.toEqual(init.get('h.0.attn.q_proj.weight'))
    expect(ck.optimizer!.has('m.h.0.attn.q_proj.weight')).toBe(true)
  })
})

/** The loss of a seeded tiny model on seeded tokens (B 2, T 32). */
function lossOf(c: Gpt2Config): number {
  const schema = schemaOf(c)
  const w = initWeights(schema, 5)
  const ids = Int32Array.from({length: 64}, (_, i) => (i * 37 + 11) % 256)
  const y = Int32Array.from({length: 64}, (_, i) => (i * 53 + 7) % 256)
  return tf.tidy(() => gpt2Loss(c, new Map(schema.map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)])), ids, y, 2, 32).dataSync()[0])
}

/** lossOf(lsh_buckets 4, lsh_hashes 2) on the code before lsh_chunk existed (commit 58d9dff). */
const PINNED_OLD_LOSS = 5.543384552001953
