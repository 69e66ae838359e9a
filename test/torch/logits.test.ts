/**
 * The companion's HF-named GPT-2 and Llama modules (python/ligo_torch/gpt2.py, llama.py) on directories written by
 * `ligo export` (writeHfDir) compute ligo's logits: tied and untied, grouped-query Llama, SP and µP-grown (width ×2,
 * depth ×2 of a µP source whose α's are off 1: every forward multiplier is folded into the exported weights).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {growConfig} from '../../src/ligo/spaces.js'
import {foldFactors, writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {relErr, tmpDir, useCpu} from '../helpers.js'
import {randomWeights, readF32, skipReason, tool, torchPython} from './python.js'

const B = 2
const T = 7

function ligoLogits(c: ModelConfig, w: Map<string, Float32Array>, ids: Int32Array): Float32Array {
  return tf.tidy(() => {
    const p = new Map([...w].map(([k, v]) => [k, tf.tensor(v, schemaOf(c).find((s) => s.name === k)!.shape)]))
    return forward(c, p, ids, B, T).dataSync() as Float32Array
  })
}

const MUP = {param: 'mup', alpha_in: 1.7, alpha_out: 0.6, alpha_attn: 1.3}
const GPT2 = {family: 'gpt2', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 40}
const LLAMA = {family: 'llama', vocab_size: 61, n_positions: 12, n_layer: 2, d_model: 16, n_head: 4, n_kv_head: 2, d_ffn: 24}

/** The µP-grown config (width ×2: twice the heads and FFN; depth ×2), with the source's base shapes and α's. */
function grown(raw: Record<string, unknown>): Record<string, unknown> {
  const small = modelConfig({...raw, ...MUP})
  return growConfig(small, {width: 2 * small.d_model, depth: 2 * small.n_layer}) as unknown as Record<string, unknown>
}

const CASES: Record<string, Record<string, unknown>> = {
  'µP-grown gpt2 tied': grown({...GPT2, tie_embeddings: true}),
  'µP-grown gpt2 untied': grown({...GPT2, tie_embeddings: false}),
  'µP-grown llama GQA tied': grown({...LLAMA, tie_embeddings: true}),
  'µP-grown llama GQA untied': grown({...LLAMA, tie_embeddings: false}),
  'SP gpt2 tied': {...GPT2, tie_embeddings: true},
  'SP gpt2 untied': {...GPT2, tie_embeddings: false},
  'SP llama GQA tied': {...LLAMA, tie_embeddings: true},
  'SP llama GQA untied': {...LLAMA, tie_embeddings: false},
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
      if (c.param === 'mup') {
        // The folds are not a no-op here: without ligo's multipliers the same weights give other logits.
        expect(foldFactors(c).size).toBeGreaterThan(0)
        const bare = modelConfig({...raw, param: 'sp', alpha_in: 1, alpha_out: 1, alpha_attn: 1})
        expect(relErr(ligoLogits(bare, w, ids), want)).toBeGreaterThan(0.05)
      }
      if (torchPython().transformers) {
        // Where transformers is installed, its AutoModelForCausalLM reads the same directory (not on ligo's CI).
        const r2 = tool(['logits', dir, idsFile, out])
        expect(r2.impl).toBe('transformers')
        expect(relErr(readF32(out), want)).toBeLessThanOrEqual(1e-4)
      }
    })
  }
})
