import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors} from '../../src/checkpoints/safetensors.js'
import {grow} from '../../src/ligo/grow.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {initWeights} from '../../src/model/init.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {initStds} from '../../src/mup/index.js'
import {trainFlopsPerToken} from '../../src/train/flops.js'
import {train} from '../../src/train/trainer.js'
import {smallBrown, tinyRun, tmpDir, trainedSource, useCpu} from '../helpers.js'

let data: string
let source: string
beforeAll(async () => {
  await useCpu()
  data = await smallBrown()
  // A briefly trained 2×16 source.
  source = await trainedSource(data, {steps: 60, batch: 8, lr: 0.01})
})

function logitsOf(dir: string, ids: Int32Array, B: number, T: number): number[][] {
  const ck = loadCheckpoint(dir)
  return tf.tidy(() => forward(ck.meta.model, new Map(ck.schema.map((s) => [s.name, tf.tensor(ck.weights.get(s.name)!, s.shape)])), ids, B, T).arraySync())
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]))
  return m
}

describe('grow', () => {
  const ids = Int32Array.from({length: 32}, (_, i) => (i * 41 + 7) % 256)

  it('net2net and zero compute the source model\'s function exactly (width ×2, depth 2 → 5)', async () => {
    const src = logitsOf(source, ids, 2, 16)
    for (const method of ['net2net', 'zero'] as const) {
      const out = path.join(tmpDir(), method)
      const r = await grow({source: loadCheckpoint(source), target: {width: 32, depth: 5}, method, out, evalBatches: 0})
      expect(r.large).toMatchObject({d_model: 32, n_layer: 5, n_head: 4, head_size: 8, d_ffn: 64})
      expect(maxDiff(src, logitsOf(out, ids, 2, 16)), method).toBeLessThan(1e-4)
    }
  })

  it('refuses data whose tokenizer has more tokens than the model can embed, before writing anything', async () => {
    const ck = loadCheckpoint(source)
    const model = {...ck.meta.model, vocab_size: 200}
    const schema = schemaOf(model)
    const small = {...ck, meta: {...ck.meta, model}, schema, weights: initWeights(schema, 1, initStds(model, schema))}
    const out = path.join(tmpDir(), 'vocab')
    await expect(grow({source: small, target: {width: 32}, method: 'net2net', out, dataDir: data})).rejects.toThrow(/tokenizer has 256 tokens but the model's vocab_size is 200/)
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false)
  })

  it('net2net and zero keep a µP source\'s function too (the grown readout multiplier α_out/m is halved)', async () => {
    const mupSource = path.join(tmpDir(), 'small-mup')
    await train({config: tinyRun({steps: 20, batch: 8, lr: 0.01}, {param: 'mup'}), dataDir: data, outDir: mupSource})
    const src = logitsOf(mupSource, ids, 2, 16)
    for (const method of ['net2net', 'zero'] as const) {
      const out = path.join(tmpDir(), `mup-${method}`)
      const r = await grow({source: loadCheckpoint(mupSource), target: {width: 32, depth: 5}, method, out, evalBatches: 0})
      expect(r.large).toMatchObject({param: 'mup', d_model: 32, base_d_model: 16})
      expect(maxDiff(src, logitsOf(out, ids, 2, 16)), method).toBeLessThan(1e-4)
    }
  })

  it('warns that net2net and zero do not preserve a post-LN BERT\'s function when they add blocks (width alone does)', async () => {
    const ck = loadCheckpoint(source)
    const {vocab_size, n_positions, n_layer, d_model, n_head} = ck.meta.model
    const model = modelConfig({family: 'bert', vocab_size, n_positions, n_layer, d_model, n_head})
    const schema = schemaOf(model)
    const weights = initWeights(schema, 2, initStds(model, schema))
    // Trained LayerNorms: with γ = 1, β = 0 (the init) LN(LN(x)) = LN(x) and the new blocks would be identities.
    for (const [name, w] of weights) if (name.includes('LayerNorm')) w.forEach((v, i) => (w[i] = v + 0.3 * Math.sin(7 * i + name.length)))
    const bert = {...ck, meta: {...ck.meta, model}, schema, weights}
    const logits = (m: ModelConfig, ws: Map<string, Float32Array>) =>
      tf.tidy(() => forward(m, new Map(schemaOf(m).map((p) => [p.name, tf.tensor(ws.get(p.name)!, p.shape)])), ids, 2, 16).arraySync())
    const src = logits(model, bert.weights)
    for (const method of ['net2net', 'zero'] as const) {
      for (const [target, preserves] of [[{width: 32}, true], [{width: 32, depth: 3}, false]] as const) {
        const warnings: string[] = []
        const out = path.join(tmpDir(), `bert-${method}`)
        const r = await grow({source: bert, target, method, out, evalBatches: 0, onEvent: (e) => e.kind === 'warn' && warnings.push(e.message)})
        // Relative to the logits' scale (small at this init: tied embeddings of std 0.02).
        const diff = maxDiff(src, logits(r.large, loadCheckpoint(out).weights)) / Math.max(...src.flat().map(Math.abs))
        const what = `${method} ${JSON.stringify(target)}: max logit diff / max |logit| ${diff}`
        if (preserves) {
          expect(warnings, what).toEqual([])
          expect(diff, what).toBeLessThan(1e-5)
        } else {
          expect(warnings.join(' '), what).toMatch(/post-LayerNorm: the 1 new block\(s\) .* not identities/)
          expect(diff, what).toBeGreaterThan(1e-4) // what the warning is about (float error is ~1e-7)
        }
      }
    }
  })

  it('stack and interleave place the source blocks as documented', async () => {
    const s = loadCheckpoint(source)
    const out = path.join(tmpDir(), 'stack')
    await grow({source: s, target: {depth: 4}, method: 'stack', out, evalBatches: 0})
    const g = loadCheckpoint(out)
    expect(g.weights.get('h.2.mlp.c_fc.weight')).toEqual(s.weights.get('h.0.mlp.c_fc.weight'))
    expect(g.weights.get('h.3.attn.c_proj.weight')).toEqual(s.weights.get('h.1.attn.c_proj.weight'))
    const out2 = path.join(tmpDir(), 'interleave')
    await grow({source: s, target: {depth: 4}, method: 'interleave', out: out2, evalBatches: 0})
    const g2 = loadCheckpoint(out2)
    expect(g2.weights.get('h.1.mlp.c_fc.weight')).toEqual(s.weights.get('h.0.mlp.c_fc.weight'))
    expect(g2.weights.get('h.2.mlp.c_fc.weight')).toEqual(s.weights.get('h.1.mlp.c_fc.weight'))
  })

  // Whether LiGO beats stacking depends on a well-trained source; that comparison is made on Brown in the README
  // (experiments/growth). Here: learning moves a poor initialisation (random convex width maps) a long way.
  it('learns an operator that lowers the loss, beats random init, and charges its FLOPs', async () => {
    const base = tmpDir()
    const s = loadCheckpoint(source)
    const common = {source: s, target: {width: 32, depth: 4}, dataDir: data, evalBatches: 8, seed: 3}
    const ligo = await grow({...common, method: 'ligo', out: path.join(base, 'ligo'), ligo: {steps: 30, lr: 0.003, warmup: 3, batch: 16, seq: 16, widthInit: 'rand'}})
    const random = await grow({...common, method: 'random', out: path.join(base, 'random'), ligo: {batch: 16, seq: 16}})
    const msg = `ligo ${ligo.val_init} → ${ligo.val_final}, random ${random.val_final}`
    expect(ligo.val_final!, msg).toBeLessThan(ligo.val_init! - 0.02)
    expect(ligo.val_final!, msg).toBeLessThan(random.val_final!)
    const large = growConfig(s.meta.model, {width: 32, depth: 4})
    const plainStep = trainFlopsPerToken(large, schemaOf(large), 16) * 16 * 16
    expect(ligo.flops_per_step).toBeGreaterThan(plainStep)
    expect(ligo.flops).toBe(ligo.flops_per_step * 30)
    const prov = loadCheckpoint(path.join(base, 'ligo')).meta.provenance as {growth: {method: string; steps: number}; source_sha256: string}
    expect(prov.growth).toMatchObject({method: 'ligo', steps: 30})
    expect(prov.source_sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('--depth-lr moves the depth coefficients at their own rate (the width operator keeps --lr)', async () => {
    const base = tmpDir()
    const s = loadCheckpoint(source)
    // Stacking depth init without noise: every coefficient vector starts one-hot, so its movement is readable.
    const common = {source: s, target: {width: 32, depth: 4}, dataDir: data, evalBatches: 0, seed: 5}
    const ligo = {steps: 5, lr: 1e-3, warmup: 0, batch: 4, seq: 16, depthNoise: 0, learnWidth: false}
    const moved = async (name: string, depthLr?: number) => {
      await grow({...common, method: 'ligo', out: path.join(base, name), ligo: {...ligo, depthLr}})
      let m = 0
      for (const [k, t] of readSafetensors(path.join(base, name, 'ligo.safetensors')).tensors) {
        if (!k.startsWith('depth.')) continue
        const c = t.data as Float32Array
        const i = Number(k.split('.')[2]) % c.length // stacking: grown block i starts as source block i mod L1
        for (let j = 0; j < c.length; j++) m = Math.max(m, Math.abs(c[j] - (j === i ? 1 : 0)))
      }
      return m
    }
    const same = await moved('same')
    const fast = await moved('fast', 3e-2)
    // Adam moves each coefficient by at most ≈ lr per step: 5 steps of a linearly decaying 1e-3 stay below 0.005.
    expect(same).toBeGreaterThan(1e-4)
    expect(same).toBeLessThan(0.005)
    expect(fast).toBeGreaterThan(0.02)
  })

  it('saves an operator that re-applies to the source to give the same checkpoint', async () => {
    const base = tmpDir()
    const s = loadCheckpoint(source)
    const first = path.join(base, 'grown')
    await grow({source: s, target: {width: 24, depth: 3}, method: 'ligo', out: first, dataDir: data, evalBatches: 0, ligo: {steps: 5, batch: 4, seq: 16, fullWidth: true}})
    const again = path.join(base, 'regrown')
    await grow({source: s, target: {}, method: 'ligo', out: again, operatorFile: path.join(first, 'ligo.safetensors'), evalBatches: 0})
    expect(fs.readFileSync(path.join(again, 'model.safetensors')).equals(fs.readFileSync(path.join(first, 'model.safetensors')))).toBe(true)
  })

  it('refuses shrinking, head-size changes and widths that are not a multiple of the head size (not of the width)', async () => {
    const s = loadCheckpoint(source)
    const g = (target: object, method: 'ligo' | 'net2net' = 'net2net') =>
      grow({source: s, target, method, out: path.join(tmpDir(), 'x'), evalBatches: 0, dataDir: data, ligo: {steps: 1}})
    await expect(g({width: 8})).rejects.toThrow(/smaller than the source's d_model 16: growth cannot shrink/)
    await expect(g({depth: 1})).rejects.toThrow(/cannot shrink/)
    await expect(g({width: 20})).rejects.toThrow(/not a multiple of the head size 8.*try 24/)
    await expect(g({width: 32, heads: 3})).rejects.toThrow(/head size is kept/)
    // 16 → 24 is not a multiple of the width, which no longer matters (test/ligo/widths.test.ts).
    await expect(g({width: 24})).resolves.toMatchObject({large: {d_model: 24}, function_check: {exact: true}})
    await expect(grow({source: s, target: {depth: 3}, method: 'ligo', out: path.join(tmpDir(), 'y')})).rejects.toThrow(/give --data/)
  })
})
