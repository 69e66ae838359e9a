/**
 * BERT: schema and config, MLM logits of an HF-layout BertForMaskedLM checkpoint against an independent float64
 * reference written from transformers' modeling_bert.py (not our model code), the deterministic masking rule and
 * the masked-LM loss, bidirectionality, gradients, and a few training steps.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {Rng} from '../../src/data/rng.js'
import {mlmMask} from '../../src/model/bert.js'
import {readHfDir} from '../../src/model/hf.js'
import {type BertConfig, forward, lossOf, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {countParams} from '../../src/model/schema.js'
import {TINY_MODEL, firstAndLastLoss, tmpDir, useCpu} from '../helpers.js'
import {goldenLogitError} from './golden.js'
import {bertReference} from './hf-reference.js'
import {checkGradients, perturbed} from './gradcheck.js'

beforeAll(useCpu)

type HfTensors = Map<string, {shape: number[]; data: Float32Array | Int32Array; dtype?: 'I64'}>

const HF_CONFIG = {
  architectures: ['BertForMaskedLM'], model_type: 'bert', vocab_size: 53, hidden_size: 16, num_hidden_layers: 2,
  num_attention_heads: 4, intermediate_size: 28, hidden_act: 'gelu', max_position_embeddings: 24, type_vocab_size: 2,
  layer_norm_eps: 1e-12, pad_token_id: 0, position_embedding_type: 'absolute', tie_word_embeddings: true,
}

/** A BertForMaskedLM state dict with random weights; `extras` adds what BertForPreTraining files carry besides. */
function randomBert(cfg: typeof HF_CONFIG, seed: number, extras = false): HfTensors {
  const rng = new Rng(seed)
  const C = cfg.hidden_size, F = cfg.intermediate_size, V = cfg.vocab_size
  const t: HfTensors = new Map()
  const add = (name: string, shape: number[], mean: number, std: number) =>
    t.set(name, {shape, data: Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => mean + std * rng.normal())})
  const norm = (p: string) => (add(p + '.weight', [C], 1, 0.2), add(p + '.bias', [C], 0, 0.2))
  const dense = (p: string, out: number, inn: number) => (add(p + '.weight', [out, inn], 0, 0.4), add(p + '.bias', [out], 0, 0.2))
  add('bert.embeddings.word_embeddings.weight', [V, C], 0, 0.5)
  add('bert.embeddings.position_embeddings.weight', [cfg.max_position_embeddings, C], 0, 0.5)
  add('bert.embeddings.token_type_embeddings.weight', [cfg.type_vocab_size, C], 0, 0.5)
  norm('bert.embeddings.LayerNorm')
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`
    dense(p + 'attention.self.query', C, C)
    dense(p + 'attention.self.key', C, C)
    dense(p + 'attention.self.value', C, C)
    dense(p + 'attention.output.dense', C, C)
    norm(p + 'attention.output.LayerNorm')
    dense(p + 'intermediate.dense', F, C)
    dense(p + 'output.dense', C, F)
    norm(p + 'output.LayerNorm')
  }
  dense('cls.predictions.transform.dense', C, C)
  norm('cls.predictions.transform.LayerNorm')
  add('cls.predictions.bias', [V], 0, 0.3)
  if (!cfg.tie_word_embeddings) add('cls.predictions.decoder.weight', [V, C], 0, 0.4)
  if (extras) {
    t.set('bert.embeddings.position_ids', {shape: [1, cfg.max_position_embeddings], data: Int32Array.from({length: cfg.max_position_embeddings}, (_, i) => i), dtype: 'I64'})
    dense('bert.pooler.dense', C, C)
    dense('cls.seq_relationship', 2, C)
  }
  return t
}

function writeHf(dir: string, config: object, tensors: HfTensors): string {
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {metadata: {format: 'pt'}})
  return dir
}

function params(c: BertConfig, weights: Map<string, Float32Array>): Map<string, tf.Tensor> {
  return new Map(schemaOf(c).map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape)]))
}

function ourLogits(c: BertConfig, weights: Map<string, Float32Array>, ids: number[]): number[][] {
  return tf.tidy(() => forward(c, params(c, weights), Int32Array.from(ids), 1, ids.length).arraySync())
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]))
  return m
}

const ids = (n: number, V: number, salt = 0) => Array.from({length: n}, (_, i) => (i * 37 + 11 + salt * 101) % V)

describe('bert schema and config', () => {
  it("uses BertForMaskedLM's names and counts its parameters", () => {
    const c = modelConfig({...TINY_MODEL, family: 'bert'}) as BertConfig
    expect(c).toMatchObject({type_vocab_size: 2, tie_embeddings: true, layer_norm_eps: 1e-12, mask_id: 255, mask_prob: 0.15})
    const schema = schemaOf(c)
    for (const p of schema) expect(p.spaces.length).toBe(p.shape.length)
    const C = 16, F = 32, L = 2, V = 256, P = 16
    const perLayer = 4 * (C * C + C) + 2 * C + (C * F + F) + (F * C + C) + 2 * C
    expect(countParams(schema)).toBe(V * C + P * C + 2 * C + 2 * C + L * perLayer + (C * C + C) + 2 * C + V)
    expect(schema.find((p) => p.name === 'bert.encoder.layer.1.attention.self.query.weight')).toMatchObject({layer: 1, module: 'attention.self.query.weight', spaces: ['resid', 'q'], role: 'hidden'})
    expect(schema.find((p) => p.name === 'bert.encoder.layer.0.attention.output.dense.weight')?.spaces).toEqual(['v', 'resid'])
    expect(schema.at(-1)).toMatchObject({name: 'cls.predictions.bias', role: 'bias', spaces: ['vocab']})
  })

  it('rejects bad configs naming the key', () => {
    expect(() => modelConfig({family: 'bert', vocab_size: 100, mask_id: 100})).toThrow(/model\.mask_id.*≤ 99/)
    expect(() => modelConfig({family: 'bert', mask_prob: 0})).toThrow(/model\.mask_prob/)
    expect(() => modelConfig({family: 'bert', n_kv_head: 2})).toThrow(/model\.n_kv_head.*no such key/)
  })
})

describe('bert forward and loss', () => {
  it('matches an independent float64 reference on an HF-layout checkpoint (tied and untied decoder)', () => {
    for (const tie of [true, false]) {
      const cfg = {...HF_CONFIG, tie_word_embeddings: tie}
      const hf = randomBert(cfg, tie ? 1 : 2, tie) // the tied variant also carries BertForPreTraining's extra tensors
      const m = readHfDir(writeHf(tmpDir(), {...cfg, architectures: [tie ? 'BertForPreTraining' : 'BertForMaskedLM']}, hf))
      expect(m.config).toMatchObject({family: 'bert', d_model: 16, n_head: 4, d_ffn: 28, n_positions: 24, tie_embeddings: tie, mask_id: 52})
      const x = ids(13, cfg.vocab_size)
      const ref = bertReference(cfg, hf, x)
      expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1)
      expect(maxDiff(ourLogits(m.config as BertConfig, m.weights, x), ref)).toBeLessThan(1e-4)
    }
  })

  it('is bidirectional: changing a later token changes earlier logits', () => {
    const c = modelConfig({...TINY_MODEL, family: 'bert'}) as BertConfig
    const w = initWeights(schemaOf(c), 3)
    const a = ids(16, 256)
    const b = [...a]
    b[12] = (b[12] + 99) % 256
    const la = ourLogits(c, w, a), lb = ourLogits(c, w, b)
    expect(la[0]).not.toEqual(lb[0])
  })

  it('masks deterministically by the documented rule and scores only the masked positions', () => {
    const cfg = {...HF_CONFIG}
    const hf = randomBert(cfg, 5)
    const m = readHfDir(writeHf(tmpDir(), cfg, hf))
    const c = m.config as BertConfig
    const B = 3, T = 20
    const x = Int32Array.from(ids(B * T, c.vocab_size, 1))
    const masked = mlmMask(c, x, T)
    expect(mlmMask(c, x, T)).toEqual(masked)
    expect(masked.length).toBeGreaterThan(2)
    expect(masked.length).toBeLessThan(0.4 * B * T)
    // The rule reads only (position in the row, token): equal (t, id) pairs are masked alike in every row.
    const sig = (i: number) => `${i % T}:${x[i]}`
    for (let i = 0; i < x.length; i++) for (let j = 0; j < x.length; j++) if (sig(i) === sig(j)) expect(masked.includes(i)).toBe(masked.includes(j))
    // Reference: the mean cross-entropy at masked positions of the reference logits of the corrupted rows.
    let sum = 0
    for (let b = 0; b < B; b++) {
      const row = Array.from(x.subarray(b * T, (b + 1) * T))
      const corrupted = row.map((id, t) => (masked.includes(b * T + t) ? c.mask_id : id))
      const logits = bertReference(cfg, hf, corrupted)
      for (let t = 0; t < T; t++) {
        if (!masked.includes(b * T + t)) continue
        const l = logits[t], mx = Math.max(...l)
        sum += mx + Math.log(l.reduce((a, z) => a + Math.exp(z - mx), 0)) - l[row[t]]
      }
    }
    const ours = tf.tidy(() => lossOf(c, params(c, m.weights), x, new Int32Array(B * T), B, T).dataSync()[0])
    expect(Math.abs(ours - sum / masked.length)).toBeLessThan(1e-4)
    // No position under the threshold: the one with the smallest hash is masked.
    const one = mlmMask({...c, mask_prob: 1e-9}, x, T)
    expect(one).toHaveLength(1)
  })

  it('has gradients that match finite differences (directional derivative per tensor)', () => {
    const c = modelConfig({...TINY_MODEL, family: 'bert', layer_norm_eps: 1e-5, mask_prob: 0.3}) as BertConfig
    const schema = schemaOf(c)
    const B = 2, T = 8
    const x = Int32Array.from(ids(B * T, 256)), y = new Int32Array(B * T)
    // Rows of the token-type table no batch position reads have zero gradient: the direction covers the used row.
    const span = (n: string, size: number) => (n.endsWith('token_type_embeddings.weight') ? c.d_model : size)
    const checked = checkGradients(schema, perturbed(initWeights(schema, 1)), (p) => lossOf(c, p, x, y, B, T), span)
    expect(checked).toBeGreaterThan(schema.length / 2)
  })
})

describe('bert training', () => {
  it('lowers the masked-LM loss in a few steps', async () => {
    const r = await firstAndLastLoss({steps: 30, batch: 8, lr: 0.01, warmup: 2}, {family: 'bert'})
    expect(r.steps).toBe(30)
    expect(r.last).toBeLessThan(r.first - 0.8)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Parity with transformers itself: golden logits of a BertForMaskedLM computed once by transformers 5.17.0 (torch 2.11,
// float32) from the tensors golden.ts's formula sets, on GOLDEN_IDS, columns GOLDEN_COLS (golden.ts has the Python side).
const GOLDEN_CONFIG = {architectures: ['BertForMaskedLM'], model_type: 'bert', vocab_size: 99, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 40, max_position_embeddings: 24}
const GOLDEN_LOGITS = [
  [-1.0712732, 0.8184675, 0.1174046, -0.3605486],
  [-0.9935427, 0.5238924, 0.7264837, -0.9122623],
  [-2.1540473, 2.2493687, -0.9125784, 0.3362978],
  [-1.093616, 0.9068984, -0.0681528, -0.1921353],
  [-0.7756058, 0.5286132, 0.1172845, -0.287048],
  [-1.5507061, 1.5125171, -0.5073294, 0.1061351],
  [-1.0665249, 0.6859132, 0.4741535, -0.6938195],
  [-2.1149821, 2.194474, -0.8662944, 0.3026029],
  [-1.0051653, 0.7397834, 0.1560817, -0.3803993],
  [-0.4820055, 0.0471578, 0.6572549, -0.7203919],
  [-2.3701544, 2.4583609, -0.9044946, 0.275079],
  [-1.0148417, 0.6470175, 0.4412993, -0.6501907],
]

describe('parity with transformers', () => {
  it('gives the logits BertForMaskedLM gives (transformers 5.17.0, golden values)', () => {
    expect(goldenLogitError(GOLDEN_CONFIG, GOLDEN_LOGITS)).toBeLessThan(1e-4)
  })
})
