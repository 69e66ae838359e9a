/**
 * µP models leave ligo exactly (issue #29): the export folds the forward multipliers (α_in, α_out/m, the attention
 * scale) into the weights, so that an independent float64 forward written from transformers' model files
 * (hf-reference.ts), run on the exported directory as written, gives ligo's logits; import divides them back
 * out; ligo_mup.json carries the per-tensor AdamW multipliers under HF names with the folds accounted for, so that
 * torch.optim.AdamW's step on the exported weights is ligo's µP step; byte tokenizers get a tokenizer.json; the
 * HF keys ligo does not model (dropout, special-token ids) are carried from import to export.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors, writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {HfBpeTokenizer} from '../../src/data/hf-tokenizer.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {type HfMupTable, foldFactors, readHfDir, toHfTensors, writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, forward, lossOf, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {decays} from '../../src/model/schema.js'
import {lrMultipliers, wdMultipliers} from '../../src/mup/index.js'
import {AdamW} from '../../src/optim/adamw.js'
import {valueAndGradsInto} from '../../src/train/step.js'
import {ligo as run} from '../cli/run.js'
import {relErr, smallBrown, tmpDir, useCpu} from '../helpers.js'
import {hfDirReference} from './hf-reference.js'

beforeAll(useCpu)

type Weights = Map<string, Float32Array>

/** A µP source at base width (every α moved off 1, so that every fold is exercised). */
const SOURCE = {vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 32, param: 'mup', alpha_in: 1.7, alpha_out: 0.6, alpha_attn: 1.3}

/** The µP-grown model (width ×2, depth ×2: base shapes stay the source's) with random weights off their inits. */
function grownModel(raw: Record<string, unknown>, seed = 1): {config: ModelConfig; weights: Weights; tokenizer: object} {
  const small = modelConfig({...SOURCE, ...raw})
  const config = growConfig(small, {width: 2 * small.d_model, depth: 2 * small.n_layer})
  const weights = new Map([...initWeights(schemaOf(config), seed)].map(([k, v]) => [k, Float32Array.from(v, (a, i) => a + 0.1 * Math.sin(i * 0.7 + k.length))]))
  return {config, weights, tokenizer: {kind: 'byte', vocabSize: 256}}
}

function ourLogits(c: ModelConfig, weights: Weights, ids: number[]): number[][] {
  return tf.tidy(() => {
    const p = new Map(schemaOf(c).map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape)]))
    return forward(c, p, Int32Array.from(ids), 1, ids.length).arraySync() as number[][]
  })
}

const IDS = [3, 17, 42, 8, 60, 1, 29, 11]

const FAMILIES: [string, Record<string, unknown>][] = [
  ['gpt2 tied', {}],
  ['gpt2 untied', {tie_embeddings: false}],
  ['llama GQA untied', {family: 'llama', n_kv_head: 2}],
  ['llama tied', {family: 'llama', tie_embeddings: true}],
  ['bert tied', {family: 'bert'}],
  ['bert untied', {family: 'bert', tie_embeddings: false}],
]

describe('µP export: stock transformers forwards compute ligo\'s logits', () => {
  for (const [name, raw] of FAMILIES) {
    it(`${name}, grown ×2 wide and ×2 deep (the independent float64 reference on the exported directory, ≤ 1e-4)`, () => {
      const m = grownModel(raw)
      expect(m.config.d_model).toBe(2 * m.config.base_d_model)
      const folds = foldFactors(m.config)
      expect(folds.size).toBeGreaterThan(0)
      const dir = path.join(tmpDir(), 'hf')
      const r = writeHfDir(dir, m)
      expect(Object.keys(r.folded).sort()).toEqual([...folds.keys()].sort())
      const ours = ourLogits(m.config, m.weights, IDS)
      expect(relErr(hfDirReference(dir, IDS), ours)).toBeLessThan(1e-4)

      // Without the folds (the weights as ligo holds them) the HF forward is another function: the check can fail.
      const plain = path.join(tmpDir(), 'plain')
      fs.mkdirSync(plain)
      fs.copyFileSync(path.join(dir, 'config.json'), path.join(plain, 'config.json'))
      const spConfig = modelConfig({...m.config, param: 'sp', alpha_in: 1, alpha_out: 1, alpha_attn: 1, base_d_model: m.config.d_model, base_n_head: m.config.n_head, base_head_size: m.config.head_size, base_d_ffn: m.config.d_ffn})
      writeSafetensors(path.join(plain, 'model.safetensors'), toHfTensors(spConfig, m.weights), {metadata: {format: 'pt'}})
      expect(relErr(hfDirReference(plain, IDS), ours)).toBeGreaterThan(1e-2)

      // Import divides the folds back out: the config exactly, every weight to within one float32 rounding.
      const back = readHfDir(dir)
      expect(back.config).toEqual(m.config)
      for (const s of schemaOf(m.config)) {
        const a = back.weights.get(s.name)!
        const b = m.weights.get(s.name)!
        for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i]), s.name).toBeLessThanOrEqual(Math.abs(b[i]) * 2 ** -23)
      }
      expect(relErr(ourLogits(back.config, back.weights, IDS), ours)).toBeLessThan(1e-6)
    })
  }

  it('folds exactly what moved: nothing for SP, only α_in and the readout for µP with α_attn = 1 at the base head size', () => {
    expect(foldFactors(modelConfig({...SOURCE, param: 'sp', alpha_in: 1, alpha_out: 1, alpha_attn: 1})).size).toBe(0)
    const c = growConfig(modelConfig({...SOURCE, alpha_in: 1, alpha_attn: 1}), {width: 32})
    // readout α_out/m = 0.6/2 on the logits → ln_f gain and bias × 0.3 (tied, α_in = 1); nothing else
    expect(Object.fromEntries(foldFactors(c))).toEqual({'ln_f.weight': 0.3, 'ln_f.bias': 0.3})
  })
})

/** torch.optim.AdamW's step on one parameter, elementwise, with per-element lr / weight_decay / eps (the table's). */
function torchAdamW(p: Float32Array, g: Float32Array, lr: Float64Array, wd: Float64Array, eps: Float64Array, b1: number, b2: number): void {
  // first step: m = (1−β1)g, v = (1−β2)g², bias corrections 1−β1, 1−β2
  for (let i = 0; i < p.length; i++) {
    const m = (1 - b1) * g[i]
    const v = (1 - b2) * g[i] * g[i]
    p[i] = p[i] * (1 - lr[i] * wd[i]) - (lr[i] * (m / (1 - b1))) / (Math.sqrt(v / (1 - b2)) + eps[i])
  }
}

describe('ligo_mup.json: torch.optim.AdamW with the table on the exported weights is ligo\'s µP step', () => {
  for (const [name, raw] of FAMILIES) {
    it(name, () => {
      const m = grownModel(raw, 3)
      const c = m.config
      const schema = schemaOf(c)
      const train = {optimizer: 'adamw', lr: 0.02, beta1: 0.9, beta2: 0.95, eps: 1e-6, weight_decay: 0.1}
      const dir = path.join(tmpDir(), 'hf')
      writeHfDir(dir, {...m, train})
      const table = JSON.parse(fs.readFileSync(path.join(dir, 'ligo_mup.json'), 'utf8')) as HfMupTable
      expect(table).toMatchObject({format: 'ligo-mup-table', version: 1, family: c.family, parametrization: 'mup', train})
      const st = readSafetensors(path.join(dir, 'model.safetensors'))
      expect(Object.keys(table.tensors).sort()).toEqual([...st.tensors.keys()].sort())
      if (c.family === 'gpt2') expect(table.tensors['transformer.h.0.attn.c_attn.weight'].slices?.map((s) => s.of)).toEqual(['q', 'k', 'v'])

      // Real gradients of ligo's loss at ligo's weights.
      const B = 2, T = 6
      const inputs = Int32Array.from({length: B * T}, (_, i) => (i * 13 + 5) % c.vocab_size)
      const targets = Int32Array.from({length: B * T}, (_, i) => (i * 7 + 2) % c.vocab_size)
      const grads: Weights = new Map()
      valueAndGradsInto(schema.map((s) => ({name: s.name, shape: s.shape})), m.weights, (p) => lossOf(c, p, inputs, targets, B, T), grads)

      // ligo: one µP AdamW step.
      const ligoW = new Map([...m.weights].map(([k, v]) => [k, Float32Array.from(v)]))
      new AdamW(schema, {beta1: train.beta1, beta2: train.beta2, eps: train.eps, weight_decay: train.weight_decay}, lrMultipliers(c, schema), wdMultipliers(c, schema)).update(ligoW, grads, train.lr)

      // PyTorch: θ_hf = fold·θ, and by the chain rule g_hf = g/fold (toHfTensors multiplies by fold, so give it g/fold²).
      const folds = foldFactors(c)
      const hfW = toHfTensors(c, m.weights)
      const hfG = toHfTensors(c, new Map([...grads].map(([k, g]) => [k, Float32Array.from(g, (x) => x / (folds.get(k) ?? 1) ** 2)])))
      let normLigo = 0
      let normTable = 0
      for (const [k, g] of grads) for (const x of g) normLigo += x * x
      for (const [hfName, t] of hfW) {
        const e = table.tensors[hfName]
        const g = hfG.get(hfName)!.data
        const n = t.data.length
        const last = t.shape[t.shape.length - 1]
        const per = (key: 'lr_mult' | 'weight_decay_mult' | 'eps_mult' | 'fold') => Float64Array.from({length: n}, (_, i) => {
          if (!e.slices) return e[key] as number
          const col = i % last
          return e.slices.find((s) => col >= s.start && col < s.end)![key]
        })
        const fold = per('fold')
        if (!e.alias_of) for (let i = 0; i < n; i++) normTable += (fold[i] * g[i]) ** 2
        const lr = per('lr_mult').map((x) => x * train.lr)
        const wd = per('weight_decay_mult').map((x) => x * train.weight_decay)
        const eps = per('eps_mult').map((x) => x * train.eps)
        const p = Float32Array.from(t.data)
        torchAdamW(p, g, lr, wd, eps, train.beta1, train.beta2)
        hfW.set(hfName, {shape: t.shape, data: p})
      }
      // The clip norm in ligo's coordinates is ligo's gradient norm.
      expect(Math.abs(Math.sqrt(normTable) / Math.sqrt(normLigo) - 1)).toBeLessThan(1e-6)
      // Back to ligo's names and coordinates through the importer, then tensor by tensor.
      const after = path.join(tmpDir(), 'after')
      fs.mkdirSync(after)
      fs.copyFileSync(path.join(dir, 'config.json'), path.join(after, 'config.json'))
      writeSafetensors(path.join(after, 'model.safetensors'), hfW, {metadata: {format: 'pt'}})
      const back = readHfDir(after).weights
      let decayed = 0
      for (const s of schema) {
        const a = back.get(s.name)!
        const b = ligoW.get(s.name)!
        const moved = m.weights.get(s.name)!
        let num = 0
        let den = 0
        for (let i = 0; i < b.length; i++) {
          num = Math.max(num, Math.abs(a[i] - b[i]))
          den = Math.max(den, Math.abs(b[i] - moved[i]))
        }
        expect(num / den, s.name).toBeLessThan(1e-5) // relative to the step itself
        if (decays(s)) decayed++
      }
      expect(decayed).toBeGreaterThan(0)
    })
  }
})

describe('what travels with the weights', () => {
  it('a byte-level tokenizer.json (and tokenizer_config.json) that encodes text to its UTF-8 bytes, as ligo does', () => {
    const dir = path.join(tmpDir(), 'hf')
    writeHfDir(dir, grownModel({}))
    const tok = new HfBpeTokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')))
    const text = 'héllo wörld, 1 2 3\n\n— ok'
    expect(Array.from(tok.encode(text))).toEqual(Array.from(new TextEncoder().encode(text)))
    expect(tok.decode(tok.encode(text))).toBe(text)
    expect(tok.vocabSize).toBe(256)
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'))).toMatchObject({tokenizer_class: 'PreTrainedTokenizerFast'})
    expect(readHfDir(dir).tokenizer).toEqual({kind: 'byte', vocabSize: 256})
  })

  it('the HF keys ligo does not model (dropout, special-token ids) from import to export', () => {
    const src = path.join(tmpDir(), 'src')
    writeHfDir(src, grownModel({}))
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'))
    fs.writeFileSync(path.join(src, 'config.json'), JSON.stringify({...cfg, resid_pdrop: 0.1, attn_pdrop: 0.05, embd_pdrop: 0.1, bos_token_id: 7, eos_token_id: 9, pad_token_id: null}))
    const ck = path.join(tmpDir(), 'ck')
    expect(run(['import', src, '-o', ck]).code).toBe(0)
    expect(loadCheckpoint(ck).meta.hf?.config).toEqual({resid_pdrop: 0.1, attn_pdrop: 0.05, embd_pdrop: 0.1, bos_token_id: 7, eos_token_id: 9, pad_token_id: null})
    const out = path.join(tmpDir(), 'out')
    expect(run(['export', ck, '-o', out]).code).toBe(0)
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({resid_pdrop: 0.1, attn_pdrop: 0.05, embd_pdrop: 0.1, bos_token_id: 7, eos_token_id: 9, pad_token_id: null})
  })
})

describe('ligo train → grow → export (CLI), µP', () => {
  it('exports the grown model with its folds and table, and the exported directory computes ligo\'s logits', async () => {
    const data = await smallBrown()
    const dir = tmpDir()
    const src = path.join(dir, 'src')
    const t = run(['train', '--config', 'configs/gpt-micro.yaml', '--data', data, '-o', src, '--steps', '3', '--batch', '2', '--seq', '16', '--param', 'mup', '--eval-every', '0'])
    expect(t.code, t.stderr).toBe(0)
    const small = loadCheckpoint(src).meta.model
    const grown = path.join(dir, 'grown')
    const g = run(['grow', src, '--method', 'stack', '--width', String(2 * small.d_model), '--depth', String(2 * small.n_layer), '-o', grown])
    expect(g.code, g.stderr).toBe(0)
    const hf = path.join(dir, 'hf')
    const e = run(['export', grown, '-o', hf])
    expect(e.code, e.stderr).toBe(0)
    expect(e.stdout).toMatch(/µP: forward multipliers folded into 2 tensors \(×0\.5\); per-tensor AdamW multipliers for PyTorch in ligo_mup\.json/)
    const ck = loadCheckpoint(grown)
    expect(relErr(hfDirReference(hf, IDS.map((i) => i % 256)), ourLogits(ck.meta.model, ck.weights, IDS.map((i) => i % 256)))).toBeLessThan(1e-4)
    const table = JSON.parse(fs.readFileSync(path.join(hf, 'ligo_mup.json'), 'utf8')) as HfMupTable
    expect(table.train).toMatchObject({optimizer: 'adamw', steps: 3, batch: 2, seq: 16})
    // hidden matrices at width ×2: Adam LR ÷ 2 and decay × 2 (µP); the folded final norm: LR × 0.5, decay not at all.
    expect(table.tensors['transformer.h.0.mlp.c_fc.weight']).toMatchObject({lr_mult: 0.5, weight_decay_mult: 2, eps_mult: 1, fold: 1})
    expect(table.tensors['transformer.ln_f.weight']).toMatchObject({lr_mult: 0.5, weight_decay_mult: 0, eps_mult: 2, fold: 0.5})
  })
})
