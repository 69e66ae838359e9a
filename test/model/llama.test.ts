/**
 * Llama: schema and config, logits of an HF-layout checkpoint against an independent float64 reference written
 * from transformers' modeling_llama.py (not our model code), causality, gradients, and a few training steps.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {Rng} from '../../src/data/rng.js'
import {readHfDir} from '../../src/model/hf.js'
import {type LlamaConfig, forward, lossOf, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {countParams} from '../../src/model/schema.js'
import {TINY_MODEL, firstAndLastLoss, tmpDir, useCpu} from '../helpers.js'
import {goldenLogitError} from './golden.js'
import {llamaReference} from './hf-reference.js'
import {checkGradients, perturbed} from './gradcheck.js'

beforeAll(useCpu)

type HfTensors = Map<string, {shape: number[]; data: Float32Array}>

// ---------------------------------------------------------------------------------------------------------
// An HF LlamaForCausalLM directory with random weights, and the reference forward over its tensors.

const HF_CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 61, hidden_size: 16, intermediate_size: 24,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 32, rms_norm_eps: 1e-5,
  rope_theta: 500, hidden_act: 'silu', tie_word_embeddings: false, torch_dtype: 'float32',
}

function randomLlama(cfg: typeof HF_CONFIG, seed: number): HfTensors {
  const rng = new Rng(seed)
  const C = cfg.hidden_size, F = cfg.intermediate_size, V = cfg.vocab_size
  const HS = C / cfg.num_attention_heads
  const t: HfTensors = new Map()
  const add = (name: string, shape: number[], mean: number, std: number) =>
    t.set(name, {shape, data: Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => mean + std * rng.normal())})
  add('model.embed_tokens.weight', [V, C], 0, 0.5)
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`
    add(p + 'input_layernorm.weight', [C], 1, 0.2)
    add(p + 'self_attn.q_proj.weight', [cfg.num_attention_heads * HS, C], 0, 0.4)
    add(p + 'self_attn.k_proj.weight', [cfg.num_key_value_heads * HS, C], 0, 0.4)
    add(p + 'self_attn.v_proj.weight', [cfg.num_key_value_heads * HS, C], 0, 0.4)
    add(p + 'self_attn.o_proj.weight', [C, cfg.num_attention_heads * HS], 0, 0.3)
    add(p + 'post_attention_layernorm.weight', [C], 1, 0.2)
    add(p + 'mlp.gate_proj.weight', [F, C], 0, 0.4)
    add(p + 'mlp.up_proj.weight', [F, C], 0, 0.4)
    add(p + 'mlp.down_proj.weight', [C, F], 0, 0.3)
  }
  add('model.norm.weight', [C], 1, 0.2)
  if (!cfg.tie_word_embeddings) add('lm_head.weight', [V, C], 0, 0.4)
  return t
}

function writeHf(dir: string, config: object, tensors: HfTensors): string {
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {metadata: {format: 'pt'}})
  return dir
}

function ourLogits(c: LlamaConfig, weights: Map<string, Float32Array>, ids: number[]): number[][] {
  const schema = schemaOf(c)
  return tf.tidy(() => {
    const p = new Map(schema.map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape)]))
    return forward(c, p, Int32Array.from(ids), 1, ids.length).arraySync()
  })
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]))
  return m
}

const ids = (n: number, V: number, salt = 0) => Array.from({length: n}, (_, i) => (i * 37 + 11 + salt * 101) % V)

describe('llama schema and config', () => {
  it("uses HF's names, marks grouped K/V spaces, and counts parameters like LlamaForCausalLM", () => {
    const c = modelConfig({...TINY_MODEL, family: 'llama', n_kv_head: 1}) as LlamaConfig
    expect(c).toMatchObject({n_kv_head: 1, head_size: 8, tie_embeddings: false, rope_theta: 10000, rms_norm_eps: 1e-6})
    const schema = schemaOf(c)
    for (const p of schema) expect(p.spaces.length).toBe(p.shape.length)
    const C = 16, F = 32, L = 2, V = 256, A = 16, Akv = 8
    expect(countParams(schema)).toBe(V * C + L * (2 * C + C * A + 2 * C * Akv + A * C + 3 * C * F) + C + C * V)
    expect(schema.find((p) => p.name === 'model.layers.1.self_attn.k_proj.weight')).toMatchObject({layer: 1, module: 'self_attn.k_proj.weight', shape: [C, Akv], spaces: ['resid', 'k']})
    expect(schema.find((p) => p.name === 'model.layers.0.self_attn.o_proj.weight')?.spaces).toEqual(['q', 'resid'])
    const mha = schemaOf(modelConfig({...TINY_MODEL, family: 'llama'}))
    expect(mha.find((p) => p.name === 'model.layers.0.self_attn.o_proj.weight')?.spaces).toEqual(['v', 'resid'])
    expect(schema.at(-1)).toMatchObject({name: 'lm_head.weight', role: 'readout', spaces: ['resid', 'vocab']})
  })

  it('rejects bad configs naming the key', () => {
    expect(() => modelConfig({family: 'llama', n_head: 4, n_kv_head: 3})).toThrow(/model\.n_kv_head.*divisor of n_head \(4\)/)
    expect(() => modelConfig({family: 'llama', d_model: 12, n_head: 4})).toThrow(/model\.head_size.*even/)
    expect(() => modelConfig({family: 'llama', layer_norm_eps: 1e-5})).toThrow(/model\.layer_norm_eps.*no such key/)
    expect(() => modelConfig({family: 'llama', zero_query: true})).toThrow(/zero_query.*gpt2 only/)
  })
})

describe('llama forward', () => {
  it('matches an independent float64 reference on an HF-layout checkpoint (GQA, untied and tied)', () => {
    for (const tie of [false, true]) {
      const cfg = {...HF_CONFIG, tie_word_embeddings: tie}
      const hf = randomLlama(cfg, tie ? 2 : 1)
      const m = readHfDir(writeHf(tmpDir(), cfg, hf))
      expect(m.config).toMatchObject({family: 'llama', d_model: 16, n_head: 4, n_kv_head: 2, head_size: 4, d_ffn: 24, rope_theta: 500, tie_embeddings: tie})
      const x = ids(11, cfg.vocab_size)
      const ref = llamaReference(cfg, hf, x)
      const ours = ourLogits(m.config as LlamaConfig, m.weights, x)
      expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1) // logits of a size that tests something
      expect(maxDiff(ours, ref)).toBeLessThan(1e-4)
    }
  })

  it('is causal: changing a future token never changes an earlier logit', () => {
    const c = modelConfig({...TINY_MODEL, family: 'llama', n_kv_head: 1}) as LlamaConfig
    const w = initWeights(schemaOf(c), 3)
    for (const pos of [1, 7, 15]) {
      const a = ids(16, 256)
      const b = [...a]
      b[pos] = (b[pos] + 99) % 256
      const la = ourLogits(c, w, a)
      const lb = ourLogits(c, w, b)
      for (let t = 0; t < pos; t++) expect(la[t]).toEqual(lb[t])
      expect(la[pos]).not.toEqual(lb[pos])
    }
  })

  it('has gradients that match finite differences (directional derivative per tensor)', () => {
    const c = modelConfig({...TINY_MODEL, family: 'llama', n_kv_head: 1, rope_theta: 100}) as LlamaConfig
    const schema = schemaOf(c)
    const B = 2, T = 8
    const x = Int32Array.from(ids(B * T, 256)), y = Int32Array.from(ids(B * T, 256, 3))
    const checked = checkGradients(schema, perturbed(initWeights(schema, 1)), (p) => lossOf(c, p, x, y, B, T))
    expect(checked).toBeGreaterThan(schema.length / 2)
  })
})

describe('llama training', () => {
  it('lowers the loss in a few steps', async () => {
    const r = await firstAndLastLoss({steps: 24, batch: 8, lr: 0.01, warmup: 2}, {family: 'llama', n_kv_head: 1})
    expect(r.steps).toBe(24)
    expect(r.last).toBeLessThan(r.first - 0.8)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Parity with transformers itself: golden logits of a LlamaForCausalLM computed once by transformers 5.17.0 (torch 2.11,
// float32) from the tensors golden.ts's formula sets, on GOLDEN_IDS, columns GOLDEN_COLS (golden.ts has the Python side).
const GOLDEN_CONFIG = {architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 99, hidden_size: 32, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 24, rms_norm_eps: 1e-5, rope_theta: 500, tie_word_embeddings: false}
const GOLDEN_LOGITS = [
  [0.5811507, -0.3488477, -0.6163306, 0.7220538],
  [0.7566056, -0.7665053, 0.068801, 0.1232973],
  [0.8857649, -1.1869161, 0.8882252, -0.6128488],
  [-0.6614112, 1.0196698, -1.0353026, 0.8064204],
  [-1.027251, 0.2736636, 2.0460737, -2.1731555],
  [0.1119144, 0.4189011, -1.474521, 1.4101321],
  [0.5932981, -0.1589927, -1.1791183, 1.2526786],
  [0.1664226, 0.0984296, -0.729697, 0.725394],
  [1.2136586, -1.4957368, 0.8528746, -0.4983212],
  [-0.4687945, -0.2595481, 2.0060592, -1.9970273],
  [-1.1113073, 1.2157859, -0.3519202, 0.0540844],
  [1.2116207, -1.5077966, 0.8920865, -0.535588],
]

describe('parity with transformers', () => {
  it('gives the logits LlamaForCausalLM gives (transformers 5.17.0, golden values)', () => {
    expect(goldenLogitError(GOLDEN_CONFIG, GOLDEN_LOGITS)).toBeLessThan(1e-4)
  })
})
