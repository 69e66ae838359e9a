import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {grow} from '../../src/ligo/grow.js'
import {CLONE_VARIANTS, hyperCloneOperator} from '../../src/ligo/hypercloning.js'
import {initOperator} from '../../src/ligo/operator.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {schemaOf} from '../../src/model/index.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {relErr, smallBrown, tmpDir, trainedSource, useCpu} from '../helpers.js'
import {logits, randomSource} from './growth-fixtures.js'

beforeAll(async () => {
  await useCpu()
})

describe('grow --method hypercloning', () => {
  const cases: [string, Record<string, unknown>, {width?: number; depth?: number}][] = [
    ['gpt2, width ×2', {}, {width: 32}],
    ['gpt2 µP untied, width ×3 and depth 2 → 3', {param: 'mup', tie_embeddings: false}, {width: 48, depth: 3}],
    ['llama with grouped KV heads, width ×2', {family: 'llama', n_head: 4, n_kv_head: 2, d_ffn: 40}, {width: 32}],
    ['llama µP tied, width ×2 and depth 2 → 4', {family: 'llama', param: 'mup', tie_embeddings: true}, {width: 32, depth: 4}],
  ]
  for (const [name, raw, target] of cases) {
    it(`keeps the source's logits in every variant (${name})`, async () => {
      const src = randomSource(raw, 11)
      const ref = logits(src.meta.model, src.weights)
      const grown = new Map<string, Map<string, Float32Array>>()
      for (const variant of CLONE_VARIANTS) {
        const out = path.join(tmpDir(), variant)
        await grow({source: src, target, method: 'hypercloning', out, clone: {variant}, evalBatches: 0})
        const g = loadCheckpoint(out)
        expect(relErr(logits(g.meta.model, g.weights), ref), variant).toBeLessThan(2e-5)
        grown.set(variant, g.weights)
      }
      // The variants are different weights for the same function.
      const q = src.meta.model.family === 'gpt2' ? 'h.0.attn.q_proj.weight' : 'model.layers.0.self_attn.q_proj.weight'
      const sym = grown.get('symmetric')!.get(q)!
      for (const v of ['diagonal', 'noisy-symmetric', 'noisy-diagonal']) expect(grown.get(v)!.get(q), v).not.toEqual(sym)
    })
  }

  it('tiles W/n_in (symmetric), puts W on the block diagonal (diagonal), and adds noise that cancels in pairs of input blocks (noisy)', async () => {
    const src = randomSource({tie_embeddings: false}, 12)
    const W = src.weights.get('h.1.mlp.c_fc.weight')! // [16, 64] (in, out)
    const get = async (variant: (typeof CLONE_VARIANTS)[number]) => {
      const out = path.join(tmpDir(), variant)
      await grow({source: src, target: {width: 32}, method: 'hypercloning', out, clone: {variant, snrDb: 10}, evalBatches: 0})
      return loadCheckpoint(out).weights
    }
    const at = (w: Float32Array, i: number, j: number) => w[i * 128 + j] // grown [32, 128]
    const sym = (await get('symmetric')).get('h.1.mlp.c_fc.weight')!
    const diag = (await get('diagonal')).get('h.1.mlp.c_fc.weight')!
    const noisy = (await get('noisy-symmetric')).get('h.1.mlp.c_fc.weight')!
    let noise = 0
    let signal = 0
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 64; j++) {
        const w = W[i * 64 + j]
        for (const [a, b] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          expect(at(sym, a * 16 + i, b * 64 + j)).toBeCloseTo(w / 2, 6)
          expect(at(diag, a * 16 + i, b * 64 + j)).toBeCloseTo(a === b ? w : 0, 6)
        }
        for (const b of [0, 1]) {
          const e = at(noisy, i, b * 64 + j) - w / 2
          expect(at(noisy, 16 + i, b * 64 + j) - w / 2).toBeCloseTo(-e, 6) // −E in the partner block
          noise += e * e
          signal += (w / 2) ** 2
        }
      }
    }
    expect(10 * Math.log10(signal / noise)).toBeCloseTo(10, 1) // the requested SNR
    // Embeddings, vectors and the readout stay plain clones.
    const bias = (await get('noisy-diagonal')).get('h.0.mlp.c_fc.bias')!
    expect([...bias.subarray(64)]).toEqual([...bias.subarray(0, 64)])
  })

  it('is the fp width operator with equal splits, except that fp draws FFN sources at random', () => {
    const small = randomSource({}, 13).meta.model
    const large = growConfig(small, {width: 32})
    const schema = schemaOf(large)
    const hc = hyperCloneOperator(small, large, schema, 1)
    const fp = initOperator(small, large, schema, {width: 'fp', depth: 'fp', depthNoise: 0, fullWidth: false, seed: 1})
    for (const [key, w] of hc.width) {
      expect([...w.N], key).toEqual(Array.from({length: w.d2}, () => 0.5))
      if (key.endsWith('ffn')) expect([...w.M], key).not.toEqual([...fp.width.get(key)!.M])
      else expect([...w.M], key).toEqual([...fp.width.get(key)!.M]) // same tiling; fp's N splits unequally
    }
  })

  it('refuses widths that are not an integer multiple, and flags of other methods', async () => {
    const src = randomSource({}, 14)
    await expect(grow({source: src, target: {width: 24}, method: 'hypercloning', out: path.join(tmpDir(), 'x'), evalBatches: 0}))
      .rejects.toThrow(/width \(d_model\) grows 16 → 24, not by an integer factor/)
    await expect(grow({source: src, target: {width: 32, ffn: 80}, method: 'hypercloning', out: path.join(tmpDir(), 'y'), evalBatches: 0}))
      .rejects.toThrow(/FFN width grows 64 → 80/)
  })

  it('symmetric and diagonal clones stay clones under training (grow warns); the noisy variants break the symmetry', async () => {
    const data = await smallBrown()
    const source = await trainedSource(data, {steps: 10, batch: 4, lr: 0.01})
    const gap = new Map<string, number>()
    for (const variant of ['symmetric', 'diagonal', 'noisy-symmetric'] as const) {
      const grown = path.join(tmpDir(), variant)
      const warnings: string[] = []
      await grow({source: loadCheckpoint(source), target: {width: 32}, method: 'hypercloning', clone: {variant}, out: grown, evalBatches: 0,
        onEvent: (e) => e.kind === 'warn' && warnings.push(e.message)})
      expect(warnings.some((w) => /stay copies/.test(w)), variant).toBe(!variant.startsWith('noisy'))
      const from = loadCheckpoint(grown)
      const run = path.join(tmpDir(), `run-${variant}`)
      const config = resolveRunConfig({model: {...from.meta.model}, train: {steps: 5, batch: 4, seq: 16, lr: 0.01, warmup: 1, eval_every: 0, eval_batches: 2, save_every: 0, seed: 3}})
      await train({config, dataDir: data, outDir: run, from})
      const E = loadCheckpoint(path.join(run, 'checkpoint')).weights.get('wte.weight')!
      let d = 0
      for (let i = 0; i < E.length; i += 32) for (let k = 0; k < 16; k++) d = Math.max(d, Math.abs(E[i + k] - E[i + 16 + k]))
      gap.set(variant, d)
    }
    // Copies up to the cpu backend's rounding (exactly 0 on the native backend, measured); the noisy clone's halves part.
    expect(gap.get('symmetric'), JSON.stringify([...gap])).toBeLessThan(1e-6)
    expect(gap.get('diagonal'), JSON.stringify([...gap])).toBeLessThan(1e-6)
    expect(gap.get('noisy-symmetric'), JSON.stringify([...gap])).toBeGreaterThan(1e-3)
  })
})
