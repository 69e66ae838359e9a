/**
 * The companion's HF-named GPT-2 and Llama modules (python/ligo_torch/gpt2.py, llama.py) on directories written by
 * `ligo export` (writeHfDir) compute ligo's logits: tied and untied, grouped-query Llama, SP and µP.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {tmpDir, useCpu} from '../helpers.js'
import {randomWeights, readF32, relErr, skipReason, tool, torchPython} from './python.js'

const B = 2
const T = 7

function ligoLogits(c: ModelConfig, w: Map<string, Float32Array>, ids: Int32Array): Float32Array {
  return tf.tidy(() => {
    const p = new Map([...w].map(([k, v]) => [k, tf.tensor(v, schemaOf(c).find((s) => s.name === k)!.shape)]))
    return forward(c, p, ids, B, T).dataSync() as Float32Array
  })
}

const CASES: Record<string, Record<string, unknown>> = {
  'gpt2 tied': {family: 'gpt2', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 40, tie_embeddings: true},
  'gpt2 untied': {family: 'gpt2', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 40, tie_embeddings: false},
  'llama GQA tied': {family: 'llama', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, n_kv_head: 2, d_ffn: 24, tie_embeddings: true},
  'llama GQA untied': {family: 'llama', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, n_kv_head: 2, d_ffn: 24, tie_embeddings: false},
  // µP with its heads and FFN twice their base width: per-tensor LR/WD multipliers ≠ 1, forward multipliers 1.
  'gpt2 µP (heads, FFN ×2)': {family: 'gpt2', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 40,
    param: 'mup', base_n_head: 2, base_d_ffn: 20},
}

const reason = skipReason()

describe.skipIf(reason !== undefined)('PyTorch companion: logits of exported models equal ligo\'s', () => {
  beforeAll(useCpu)
  const root = tmpDir('ligo-torch-logits-')
  const rng = (k: number) => Int32Array.from({length: B * T}, (_, i) => (i * 17 + k * 5 + 3) % 61)

  for (const [name, raw] of Object.entries(CASES)) {
    it(name, () => {
      const c = modelConfig(raw)
      const w = randomWeights(schemaOf(c), 11)
      const dir = path.join(root, name.replace(/\W+/g, '-'))
      writeHfDir(dir, {config: c, weights: w, tokenizer: {kind: 'none', reason: 'test'}})
      const ids = rng(name.length)
      const idsFile = path.join(root, 'ids.json')
      fs.writeFileSync(idsFile, JSON.stringify(Array.from({length: B}, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)))))
      const want = ligoLogits(c, w, ids)
      const out = path.join(dir, 'logits.f32')
      const r = tool(['logits', dir, idsFile, out], {minimal: true})
      expect(r.impl).toBe('minimal')
      expect(r.shape).toEqual([B, T, c.vocab_size])
      const err = relErr(readF32(out), want)
      expect(err, `relative error ${err}`).toBeLessThanOrEqual(1e-4)
      if (torchPython().transformers) {
        // Where transformers is installed, its AutoModelForCausalLM reads the same directory (not on ligo's CI).
        const r2 = tool(['logits', dir, idsFile, out])
        expect(r2.impl).toBe('transformers')
        expect(relErr(readF32(out), want)).toBeLessThanOrEqual(1e-4)
      }
    })
  }
})
