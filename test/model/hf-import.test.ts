/**
 * What the HF reader refuses at the edges (issue #31): a config.json without the sizes that set the tensor shapes
 * (named, instead of a silent fall back to transformers' class defaults), and a stored readout in a directory whose
 * config ties it to the embedding (accepted when it is the embedding's copy, refused when it differs).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {type StTensorInput, readSafetensors, writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {FileFormatError} from '../../src/errors.js'
import {readHfDir, writeHfDir} from '../../src/model/hf.js'
import {type Family, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {tmpDir, useCpu} from '../helpers.js'

beforeAll(useCpu)

const SMALL = {vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 24}

/** An HF directory exported from a random tiny ligo model; returns its paths. */
function hfDir(raw: Record<string, unknown>) {
  const config = modelConfig({...SMALL, ...raw})
  const dir = path.join(tmpDir(), 'hf')
  writeHfDir(dir, {config, weights: initWeights(schemaOf(config), 3), tokenizer: {kind: 'byte', vocabSize: 256}})
  return {dir, config: path.join(dir, 'config.json'), st: path.join(dir, 'model.safetensors')}
}

function editConfig(file: string, edit: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(fs.readFileSync(file, 'utf8'))
  edit(c)
  fs.writeFileSync(file, JSON.stringify(c))
}

describe('config.json without the sizes', () => {
  const required: Record<Family, string[]> = {
    gpt2: ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'],
    llama: ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'],
    bert: ['vocab_size', 'max_position_embeddings', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'],
  }
  for (const family of ['gpt2', 'llama', 'bert'] as const) {
    it(`names every missing size key of a ${family} config (no fall back to transformers' class defaults)`, () => {
      const {dir, config} = hfDir({family})
      editConfig(config, (c) => delete c.vocab_size)
      expect(() => readHfDir(dir)).toThrow(FileFormatError)
      expect(() => readHfDir(dir)).toThrow(`${config}: missing required key 'vocab_size': a ${family} config must give the sizes that set its tensor shapes`)
      editConfig(config, (c) => {
        for (const k of required[family]) delete c[k]
      })
      let message = ''
      try {
        readHfDir(dir)
      } catch (error) {
        message = (error as Error).message
      }
      for (const k of required[family]) expect(message).toContain(`'${k}'`)
      expect(message).not.toMatch(/has shape/) // the keys, not a wall of shape mismatches
      expect(message).toMatch(/^.*config\.json: missing required keys /)
    })
  }

  it('keeps the keys transformers defaults as optional (Llama: kv heads, head_dim, context; BERT: type_vocab_size)', () => {
    const llama = hfDir({family: 'llama'})
    editConfig(llama.config, (c) => {
      for (const k of ['num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'tie_word_embeddings', 'ligo']) delete c[k]
    })
    expect(readHfDir(llama.dir).config).toMatchObject({family: 'llama', d_model: 16, n_head: 4, n_kv_head: 4, head_size: 4, n_positions: 2048})
    const bert = hfDir({family: 'bert'})
    editConfig(bert.config, (c) => {
      for (const k of ['type_vocab_size', 'ligo']) delete c[k]
    })
    expect(readHfDir(bert.dir).config).toMatchObject({family: 'bert', type_vocab_size: 2})
    // an alias counts: GPT-2 configs may use the generic names
    const gpt2 = hfDir({family: 'gpt2'})
    editConfig(gpt2.config, (c) => {
      c.hidden_size = c.n_embd
      delete c.n_embd
    })
    expect(readHfDir(gpt2.dir).config.d_model).toBe(16)
  })
})

describe('a stored readout in a tied directory', () => {
  const cases: [Family, string, string][] = [
    ['gpt2', 'lm_head.weight', 'transformer.wte.weight'],
    ['llama', 'lm_head.weight', 'model.embed_tokens.weight'],
    ['bert', 'cls.predictions.decoder.weight', 'bert.embeddings.word_embeddings.weight'],
  ]
  for (const [family, head, emb] of cases) {
    it(`${family}: accepts ${head} equal to ${emb}, refuses one that differs`, () => {
      const {dir, st} = hfDir({family, tie_embeddings: true})
      const tensors = readSafetensors(st).tensors
      expect(tensors.has(head)).toBe(false) // export leaves the tied copy out, as save_pretrained does
      const e = tensors.get(emb)!
      const withHead = (data: Float32Array) => new Map<string, StTensorInput>([...tensors, [head, {shape: e.shape, data}]])
      const reference = readHfDir(dir).weights
      // an exact copy, as older save_pretrained versions and .bin conversions store it: read as the tied model
      writeSafetensors(st, withHead(Float32Array.from(e.data as Float32Array)))
      const same = readHfDir(dir)
      expect(same.config.tie_embeddings).toBe(true)
      for (const [k, v] of reference) expect(same.weights.get(k), k).toEqual(v)
      // a different matrix: config and weights disagree, refused naming both tensors and the fix
      const other = Float32Array.from(e.data as Float32Array)
      other[5] += 0.25
      writeSafetensors(st, withHead(other))
      expect(() => readHfDir(dir)).toThrow(FileFormatError)
      expect(() => readHfDir(dir)).toThrow(
        new RegExp(`'${head.replace(/\./g, '\\.')}' is stored but differs from '${emb.replace(/\./g, '\\.')}' in 1 of ${e.data.length} values \\(max \\|difference\\| 0\\.250\\).*"tie_word_embeddings": false`),
      )
      // the same file with the config untied is read with its own head
      editConfig(path.join(dir, 'config.json'), (c) => {
        c.tie_word_embeddings = false
        delete c.ligo
      })
      const untied = readHfDir(dir)
      expect(untied.config.tie_embeddings).toBe(false)
      expect(untied.weights.size).toBe(reference.size + 1)
    })
  }
})
