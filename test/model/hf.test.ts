/**
 * Hugging Face interop: GPT-2 logits of an HF-layout checkpoint (Conv1D weights, fused c_attn, buffers, with and
 * without the `transformer.` prefix) against an independent float64 reference written from modeling_gpt2.py;
 * export → import identity for every family; HF → ligo → HF identity of the tensors; sharded and F16/BF16
 * input; refusals; tokenizer.json carried through; HF directories read directly by loadCheckpoint; the CLI.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint, saveCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, readSafetensors, readSafetensorsHeader, writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {BYTE_TO_CHAR} from '../../src/data/hf-tokenizer.js'
import {Rng} from '../../src/data/rng.js'
import {tokenizerFromJSON} from '../../src/data/tokenizer.js'
import {FileFormatError, InputError} from '../../src/errors.js'
import {isHfDir, readHfDir, toHfTensors, writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {grow} from '../../src/ligo/grow.js'
import {tmpDir, useCpu} from '../helpers.js'
import {ligo as run} from '../cli/run.js'
import {goldenLogitError} from './golden.js'
import {gpt2Reference} from './hf-reference.js'

beforeAll(useCpu)

type HfTensors = Map<string, {shape: number[]; data: Float32Array}>

const GPT2_CONFIG = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 57, n_positions: 20, n_embd: 16, n_layer: 2,
  n_head: 4, n_inner: null as number | null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
  tie_word_embeddings: true, bos_token_id: 56, eos_token_id: 56,
}

/** A GPT2LMHeadModel state dict with random weights, Conv1D layout, c_attn fused, causal-mask buffers included. */
function randomGpt2(cfg: typeof GPT2_CONFIG, seed: number, prefix = 'transformer.'): HfTensors {
  const rng = new Rng(seed)
  const C = cfg.n_embd, F = cfg.n_inner ?? 4 * C, V = cfg.vocab_size, P = cfg.n_positions
  const t: HfTensors = new Map()
  const add = (name: string, shape: number[], mean: number, std: number) =>
    t.set(name, {shape, data: Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => mean + std * rng.normal())})
  add(prefix + 'wte.weight', [V, C], 0, 0.5)
  add(prefix + 'wpe.weight', [P, C], 0, 0.3)
  for (let l = 0; l < cfg.n_layer; l++) {
    const p = `${prefix}h.${l}.`
    add(p + 'ln_1.weight', [C], 1, 0.2), add(p + 'ln_1.bias', [C], 0, 0.2)
    add(p + 'attn.c_attn.weight', [C, 3 * C], 0, 0.4), add(p + 'attn.c_attn.bias', [3 * C], 0, 0.2)
    add(p + 'attn.c_proj.weight', [C, C], 0, 0.3), add(p + 'attn.c_proj.bias', [C], 0, 0.1)
    add(p + 'ln_2.weight', [C], 1, 0.2), add(p + 'ln_2.bias', [C], 0, 0.2)
    add(p + 'mlp.c_fc.weight', [C, F], 0, 0.4), add(p + 'mlp.c_fc.bias', [F], 0, 0.2)
    add(p + 'mlp.c_proj.weight', [F, C], 0, 0.3), add(p + 'mlp.c_proj.bias', [C], 0, 0.1)
    // Buffers older transformers versions saved: the causal mask and the masked-score constant.
    t.set(p + 'attn.bias', {shape: [1, 1, P, P], data: Float32Array.from({length: P * P}, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0))})
    t.set(p + 'attn.masked_bias', {shape: [], data: Float32Array.of(-1e4)})
  }
  add(prefix + 'ln_f.weight', [C], 1, 0.2), add(prefix + 'ln_f.bias', [C], 0, 0.2)
  if (!cfg.tie_word_embeddings) add('lm_head.weight', [V, C], 0, 0.4)
  return t
}

function writeHf(dir: string, config: object, tensors: HfTensors, dtype?: 'F16' | 'BF16'): string {
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {metadata: {format: 'pt'}, dtype})
  return dir
}

function ourLogits(c: ModelConfig, weights: Map<string, Float32Array>, ids: number[]): number[][] {
  return tf.tidy(() => {
    const p = new Map(schemaOf(c).map((s) => [s.name, tf.tensor(weights.get(s.name)!, s.shape)]))
    return forward(c, p, Int32Array.from(ids), 1, ids.length).arraySync()
  })
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]))
  return m
}

const ids = (n: number, V: number) => Array.from({length: n}, (_, i) => (i * 37 + 11) % V)

/** A byte-level BPE tokenizer.json: the 256 byte symbols, a few merges, and <|endoftext|> as an added token. */
function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {}
  BYTE_TO_CHAR.forEach((ch, i) => (vocab[ch] = i))
  const merges = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['Ġ', 'w'], ['o', 'r']]
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length
  vocab['<|endoftext|>'] = Object.keys(vocab).length
  return {
    version: '1.0', added_tokens: [{id: vocab['<|endoftext|>'], content: '<|endoftext|>', special: true}], normalizer: null,
    pre_tokenizer: {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true},
    post_processor: {type: 'ByteLevel'}, decoder: {type: 'ByteLevel'},
    model: {type: 'BPE', dropout: null, unk_token: null, vocab, merges: merges.map((m) => m.join(' '))},
  }
}

/** A random ligo model of a family, perturbed so no tensor sits at its constant init. */
function ligoModel(raw: Record<string, unknown>, seed = 1) {
  const config = modelConfig(raw)
  const weights = new Map([...initWeights(schemaOf(config), seed)].map(([k, v]) => [k, Float32Array.from(v, (a, i) => a + 0.1 * Math.sin(i * 0.7 + k.length))]))
  return {config, weights, tokenizer: {kind: 'byte', vocabSize: 256}}
}

const SMALL = {vocab_size: 256, n_positions: 16, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 24}

describe('growing a Hugging Face GPT-2 directory', () => {
  it('with --method net2net gives the source\'s logits (checked against the float64 reference of the HF model)', async () => {
    const hf = randomGpt2(GPT2_CONFIG, 11)
    const dir = writeHf(tmpDir(), GPT2_CONFIG, hf)
    const out = path.join(tmpDir(), 'grown')
    const r = await grow({source: loadCheckpoint(dir), target: {width: 32, depth: 3}, method: 'net2net', out, evalBatches: 0})
    expect(r.large).toMatchObject({family: 'gpt2', d_model: 32, n_layer: 3, n_head: 8, head_size: 4})
    const g = loadCheckpoint(out)
    const x = ids(12, GPT2_CONFIG.vocab_size)
    const ref = gpt2Reference(GPT2_CONFIG, hf, x)
    expect(maxDiff(ourLogits(g.meta.model, g.weights, x), ref)).toBeLessThan(1e-4)
    // and the grown model exports back to a GPT2LMHeadModel directory with the new sizes
    const back = path.join(tmpDir(), 'grown-hf')
    writeHfDir(back, {config: g.meta.model, weights: g.weights, tokenizer: g.meta.tokenizer})
    expect(JSON.parse(fs.readFileSync(path.join(back, 'config.json'), 'utf8'))).toMatchObject({architectures: ['GPT2LMHeadModel'], n_embd: 32, n_layer: 3, n_head: 8})
  })
})

describe('gpt2 from a Hugging Face directory', () => {
  it('matches an independent float64 reference (Conv1D, fused c_attn, buffers ignored; tied, and untied without the prefix)', () => {
    for (const [tie, prefix] of [[true, 'transformer.'], [false, '']] as const) {
      const cfg = {...GPT2_CONFIG, tie_word_embeddings: tie, n_inner: tie ? null : 40, architectures: [tie ? 'GPT2LMHeadModel' : 'GPT2Model']}
      const hf = randomGpt2(cfg, tie ? 1 : 2, prefix)
      const dir = writeHf(tmpDir(), cfg, hf)
      expect(isHfDir(dir)).toBe(true)
      const m = readHfDir(dir)
      expect(m.config).toMatchObject({family: 'gpt2', vocab_size: 57, n_positions: 20, d_model: 16, n_head: 4, head_size: 4, d_ffn: tie ? 64 : 40, tie_embeddings: tie})
      expect(m.provenance).toMatchObject({hf_architecture: cfg.architectures[0], hf_dtypes: ['F32']})
      const x = ids(12, cfg.vocab_size)
      const ref = gpt2Reference(cfg, hf, x, prefix)
      expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1)
      expect(maxDiff(ourLogits(m.config, m.weights, x), ref)).toBeLessThan(1e-4)
    }
  })

  it('maps HF → ligo → HF to the same tensors, bit for bit (buffers dropped, tied head not written)', () => {
    const cfg = {...GPT2_CONFIG}
    const hf = randomGpt2(cfg, 3)
    const m = readHfDir(writeHf(tmpDir(), cfg, hf))
    const back = toHfTensors(m.config, m.weights)
    const kept = [...hf.keys()].filter((k) => !/\.attn\.(bias|masked_bias)$/.test(k))
    expect([...back.keys()].sort()).toEqual(kept.sort())
    for (const k of kept) {
      expect(back.get(k)!.shape, k).toEqual(hf.get(k)!.shape)
      expect(Buffer.from(back.get(k)!.data.buffer, back.get(k)!.data.byteOffset, back.get(k)!.data.byteLength).equals(Buffer.from(hf.get(k)!.data.buffer)), k).toBe(true)
    }
  })

  it('reads sharded checkpoints and F16/BF16 weights', () => {
    const cfg = {...GPT2_CONFIG, tie_word_embeddings: false}
    const hf = randomGpt2(cfg, 4)
    const single = readHfDir(writeHf(tmpDir(), cfg, hf))
    // Two shards and an index, as save_pretrained(max_shard_size=...) writes them.
    const dir = tmpDir()
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg))
    const names = [...hf.keys()]
    const shards = [names.slice(0, 9), names.slice(9)]
    const weightMap: Record<string, string> = {}
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`
      writeSafetensors(path.join(dir, file), new Map(part.map((n) => [n, hf.get(n)!])), {metadata: {format: 'pt'}})
      for (const n of part) weightMap[n] = file
    })
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({metadata: {total_size: 0}, weight_map: weightMap}))
    const sharded = readHfDir(dir)
    expect(sharded.config).toEqual(single.config)
    for (const [k, v] of single.weights) expect(sharded.weights.get(k), k).toEqual(v)

    const x = ids(10, cfg.vocab_size)
    const ref = ourLogits(single.config, single.weights, x)
    for (const [dtype, round] of [['F16', (a: Float32Array) => f16ToF32(f32ToF16(a))], ['BF16', (a: Float32Array) => bf16ToF32(f32ToBf16(a))]] as const) {
      const m = readHfDir(writeHf(tmpDir(), cfg, hf, dtype))
      expect(m.provenance.hf_dtypes).toEqual([dtype])
      const wte = m.weights.get('wte.weight')!
      expect(wte).toEqual(round(hf.get('transformer.wte.weight')!.data)) // decoded exactly, no further rounding
      expect(maxDiff(ourLogits(m.config, m.weights, x), ref)).toBeLessThan(dtype === 'F16' ? 0.02 : 0.2)
    }
  })
})

describe('export → import', () => {
  const families: [string, Record<string, unknown>][] = [
    ['gpt2 tied', {...SMALL}],
    ['gpt2 untied', {...SMALL, tie_embeddings: false, layer_norm_eps: 1e-6}],
    ['llama GQA', {...SMALL, family: 'llama', n_kv_head: 2, rope_theta: 500}],
    ['llama tied, head_dim ≠ d_model/n_head', {...SMALL, family: 'llama', head_size: 6, tie_embeddings: true}],
    ['bert', {...SMALL, family: 'bert', mask_id: 7, mask_prob: 0.2}],
    ['bert untied, µP at base width', {...SMALL, family: 'bert', tie_embeddings: false, param: 'mup'}],
  ]
  for (const [name, raw] of families) {
    it(`is the identity in F32 (${name}): config, tokenizer and every weight bit for bit`, () => {
      const src = ligoModel(raw)
      const dir = path.join(tmpDir(), 'hf')
      const r = writeHfDir(dir, src)
      expect(r.files).toEqual(['config.json', 'model.safetensors', 'ligo_mup.json', 'tokenizer.json', 'tokenizer_config.json'])
      const back = readHfDir(dir)
      expect(back.config).toEqual(src.config)
      expect(back.tokenizer).toEqual(src.tokenizer)
      for (const s of schemaOf(src.config)) expect(Buffer.from(back.weights.get(s.name)!.buffer).equals(Buffer.from(src.weights.get(s.name)!.buffer)), s.name).toBe(true)
    })
  }

  it('writes the files transformers expects: HF keys, HF names and shapes, metadata format pt, tied heads left out', () => {
    const gpt2 = ligoModel({...SMALL, vocab_size: 50})
    const dir = path.join(tmpDir(), 'gpt2')
    writeHfDir(dir, gpt2)
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 16, n_layer: 2, n_head: 4, n_inner: 24, n_positions: 16, vocab_size: 50, activation_function: 'gelu_new', tie_word_embeddings: true, torch_dtype: 'float32'})
    const h = readSafetensorsHeader(path.join(dir, 'model.safetensors'))
    expect(h.metadata).toEqual({format: 'pt'})
    expect(h.entries.get('transformer.h.0.attn.c_attn.weight')).toMatchObject({dtype: 'F32', shape: [16, 48]})
    expect(h.entries.get('transformer.h.1.mlp.c_fc.weight')?.shape).toEqual([16, 24])
    expect(h.entries.has('lm_head.weight')).toBe(false)
    expect([...h.entries.keys()].every((k) => k.startsWith('transformer.'))).toBe(true)

    const llama = ligoModel({...SMALL, family: 'llama', n_kv_head: 2})
    const ldir = path.join(tmpDir(), 'llama')
    writeHfDir(ldir, llama, {dtype: 'BF16'})
    const lcfg = JSON.parse(fs.readFileSync(path.join(ldir, 'config.json'), 'utf8'))
    expect(lcfg).toMatchObject({architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16, num_key_value_heads: 2, head_dim: 4, intermediate_size: 24, tie_word_embeddings: false, hidden_act: 'silu', torch_dtype: 'bfloat16'})
    const lh = readSafetensorsHeader(path.join(ldir, 'model.safetensors'))
    expect(lh.entries.get('model.layers.0.self_attn.k_proj.weight')).toMatchObject({dtype: 'BF16', shape: [8, 16]}) // (out, in)
    expect(lh.entries.get('lm_head.weight')?.shape).toEqual([256, 16])
    const lback = readHfDir(ldir)
    const w = llama.weights.get('model.layers.0.mlp.up_proj.weight')!
    expect(lback.weights.get('model.layers.0.mlp.up_proj.weight')).toEqual(bf16ToF32(f32ToBf16(w)))

    const bert = ligoModel({...SMALL, family: 'bert'})
    const bdir = path.join(tmpDir(), 'bert')
    writeHfDir(bdir, bert, {dtype: 'F16'})
    const bh = readSafetensorsHeader(path.join(bdir, 'model.safetensors'))
    expect(bh.entries.get('bert.encoder.layer.1.intermediate.dense.weight')).toMatchObject({dtype: 'F16', shape: [24, 16]})
    expect(bh.entries.has('cls.predictions.decoder.weight')).toBe(false)
    expect(JSON.parse(fs.readFileSync(path.join(bdir, 'config.json'), 'utf8'))).toMatchObject({architectures: ['BertForMaskedLM'], hidden_act: 'gelu', type_vocab_size: 2, layer_norm_eps: 1e-12})
  })

  it('refuses models Hugging Face cannot express, saying why', () => {
    expect(() => writeHfDir(path.join(tmpDir(), 'x'), ligoModel({...SMALL, head_size: 8}))).toThrow(/cannot export to GPT2LMHeadModel: model\.head_size = 8.*head_size·n_head = d_model/)
    expect(() => writeHfDir(path.join(tmpDir(), 'x'), ligoModel({...SMALL, reversible: true}))).toThrow(/cannot export to GPT2LMHeadModel: model\.reversible = true \(RevNet blocks on two residual streams.*no transformers class/)
    expect(() => writeHfDir(path.join(tmpDir(), 'x'), ligoModel({...SMALL, attention: 'lsh'}))).toThrow(/cannot export to GPT2LMHeadModel: model\.attention = 'lsh' \(Reformer's shared-QK LSH attention/)
    // The memory savers that keep the function export, and unused LSH settings do not get in the way.
    expect(() => writeHfDir(path.join(tmpDir(), 'x'), ligoModel({...SMALL, ffn_chunks: 2, loss_chunks: 3, lsh_buckets: 16}))).not.toThrow()
  })

  it('carries tokenizer.json through import and export, and reads an HF directory as a checkpoint', () => {
    const cfg = {...GPT2_CONFIG, vocab_size: 262, eos_token_id: 261, bos_token_id: 261}
    const dir = writeHf(tmpDir(), cfg, randomGpt2(cfg, 5))
    const tokText = JSON.stringify(tinyTokenizerJson())
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), tokText)
    const ck = loadCheckpoint(dir)
    expect(ck.meta.model).toMatchObject({family: 'gpt2', vocab_size: 262})
    expect(ck.meta.tokenizer).toMatchObject({kind: 'hf-bpe', vocabSize: 262})
    const tok = tokenizerFromJSON(ck.meta.tokenizer)
    expect(tok.eotId).toBe(261)
    expect(tok.encode('hello world')).toEqual([258, 111, 259, 260, 108, 100])
    // ligo checkpoint with the file alongside → export writes it back unchanged
    const ckDir = path.join(tmpDir(), 'ck')
    const hf = readHfDir(dir)
    saveCheckpoint(ckDir, {meta: {format: 'ligo-checkpoint', version: 1, model: hf.config, tokenizer: hf.tokenizer, provenance: {}}, weights: hf.weights, extra: {'tokenizer.json': hf.tokenizerFile!}})
    expect(fs.readFileSync(path.join(ckDir, 'tokenizer.json'), 'utf8')).toBe(tokText)
    const out = path.join(tmpDir(), 'out')
    const r = writeHfDir(out, {config: hf.config, weights: hf.weights, tokenizer: hf.tokenizer}, {tokenizerFile: fs.readFileSync(path.join(ckDir, 'tokenizer.json'))})
    expect(r.files).toContain('tokenizer.json')
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(tokText)
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({bos_token_id: 261, eos_token_id: 261})
    // Without the file, the embedded tokenizer.json is written back.
    const out2 = path.join(tmpDir(), 'out2')
    writeHfDir(out2, {config: hf.config, weights: hf.weights, tokenizer: hf.tokenizer})
    expect(JSON.parse(fs.readFileSync(path.join(out2, 'tokenizer.json'), 'utf8'))).toEqual(JSON.parse(tokText))
    // A tokenizer ligo cannot run is recorded as such, with the reason.
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({model: {type: 'WordPiece', vocab: {}}}))
    const none = readHfDir(dir).tokenizer
    expect(none).toMatchObject({kind: 'none'})
    expect(() => tokenizerFromJSON(none, 'x')).toThrow(/no tokenizer ligo can use.*model\.type "WordPiece" is not supported/)
  })
})

describe('refusals', () => {
  const base = () => {
    const dir = writeHf(tmpDir(), GPT2_CONFIG, randomGpt2(GPT2_CONFIG, 6))
    return {dir, file: path.join(dir, 'config.json'), st: path.join(dir, 'model.safetensors')}
  }
  const setConfig = (file: string, patch: Record<string, unknown>) => fs.writeFileSync(file, JSON.stringify({...GPT2_CONFIG, ...patch}))

  it('refuses unknown model types and architectures, naming the file and what is supported', () => {
    const {dir, file} = base()
    setConfig(file, {model_type: 'mistral', architectures: ['MistralForCausalLM']})
    expect(() => readHfDir(dir)).toThrow(FileFormatError)
    expect(() => readHfDir(dir)).toThrow(`${file}: model_type "mistral" (architectures ["MistralForCausalLM"]) is not supported: ligo reads gpt2 (GPT2LMHeadModel, GPT2Model), llama (LlamaForCausalLM), bert (BertForMaskedLM, BertForPreTraining)`)
    setConfig(file, {architectures: ['GPT2ForSequenceClassification']})
    expect(() => readHfDir(dir)).toThrow(/architecture GPT2ForSequenceClassification is not supported for model_type 'gpt2': ligo reads GPT2LMHeadModel, GPT2Model/)
    setConfig(file, {activation_function: 'relu'})
    expect(() => readHfDir(dir)).toThrow(/config\.json: key 'activation_function' is "relu": ligo supports only 'gelu_new'/)
    setConfig(file, {scale_attn_by_inverse_layer_idx: true})
    expect(() => readHfDir(dir)).toThrow(/key 'scale_attn_by_inverse_layer_idx' is true/)
    fs.writeFileSync(file, JSON.stringify({model_type: 'llama', rope_scaling: {rope_type: 'linear', factor: 2}}))
    expect(() => readHfDir(dir)).toThrow(/key 'rope_scaling' is .*linear.*ligo supports only null/)
    fs.writeFileSync(file, JSON.stringify({model_type: 'bert', hidden_act: 'gelu_new'}))
    expect(() => readHfDir(dir)).toThrow(/key 'hidden_act' is "gelu_new": ligo supports only 'gelu' \(exact, erf\)/)
  })

  it('refuses unknown, missing, misshapen and non-float tensors in one error naming the file and keys', () => {
    const {dir, st} = base()
    const t = randomGpt2(GPT2_CONFIG, 6)
    t.set('transformer.h.0.attn.rotary.weight', {shape: [2], data: new Float32Array(2)})
    t.delete('transformer.h.1.mlp.c_fc.bias')
    t.set('transformer.ln_f.weight', {shape: [8], data: new Float32Array(8)})
    writeSafetensors(st, t)
    expect(() => readHfDir(dir)).toThrow(
      `${st}: does not match config.json (gpt2): 'transformer.ln_f.weight' has shape [8], expected [16]; missing tensors: transformer.h.1.mlp.c_fc.bias; unexpected tensors: transformer.h.0.attn.rotary.weight (not part of a GPT2LMHeadModel with this config)`,
    )
    const u = randomGpt2(GPT2_CONFIG, 6) as Map<string, {shape: number[]; data: Float32Array | Int32Array}>
    u.set('transformer.wpe.weight', {shape: [20, 16], data: new Int32Array(320)})
    writeSafetensors(st, u)
    expect(() => readHfDir(dir)).toThrow(/'transformer\.wpe\.weight' has dtype I32, expected F32, F16 or BF16/)
  })

  it('refuses directories without safetensors weights, and ligo checkpoints', () => {
    const {dir, st} = base()
    fs.rmSync(st)
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x')
    expect(() => readHfDir(dir)).toThrow(/no model\.safetensors or model\.safetensors\.index\.json \(found pytorch_model\.bin: only safetensors weights are read/)
    const ck = path.join(tmpDir(), 'ck')
    const m = ligoModel(SMALL)
    saveCheckpoint(ck, {meta: {format: 'ligo-checkpoint', version: 1, model: m.config, tokenizer: m.tokenizer, provenance: {}}, weights: m.weights})
    expect(isHfDir(ck)).toBe(false)
    expect(() => readHfDir(ck)).toThrow(/not a Hugging Face config/)
    expect(loadCheckpoint(ck).meta.model).toEqual(m.config)
  })
})

describe('ligo import / export (CLI)', () => {
  const ligo = (args: string[]) => run([...args, '--json'])

  it('imports, describes, exports and re-imports a model, with exit code 2 and a message on bad input', () => {
    if (!fs.existsSync('dist/commands/import.js')) throw new Error('dist/ is missing: run `npm run build` before this test')
    const cfg = {...GPT2_CONFIG, tie_word_embeddings: false}
    const hfDir = writeHf(tmpDir(), cfg, randomGpt2(cfg, 7))
    const root = tmpDir()
    const imp = ligo(['import', hfDir, '-o', path.join(root, 'ck')])
    expect(imp.code, imp.stderr + imp.stdout).toBe(0)
    expect(JSON.parse(imp.stdout)).toMatchObject({model: {family: 'gpt2', tie_embeddings: false}, dtypes: ['F32'], tokenizer: 'none'})
    const info = ligo(['info', hfDir])
    expect(info.code, info.stderr).toBe(0)
    expect(JSON.parse(info.stdout).params).toBe(JSON.parse(imp.stdout).params)
    const exp = ligo(['export', path.join(root, 'ck'), '--format', 'hf', '--dtype', 'f16', '-o', path.join(root, 'hf')])
    expect(exp.code, exp.stderr + exp.stdout).toBe(0)
    expect(JSON.parse(exp.stdout)).toMatchObject({architecture: 'GPT2LMHeadModel', dtype: 'F16', tied: false})
    expect(readSafetensors(path.join(root, 'hf', 'model.safetensors')).tensors.get('lm_head.weight')?.dtype).toBe('F16')
    const again = ligo(['export', path.join(root, 'ck'), '-o', path.join(root, 'hf')])
    expect(again.code).toBe(2)
    expect(again.stdout + again.stderr).toMatch(/already exists/)
    fs.writeFileSync(path.join(hfDir, 'config.json'), JSON.stringify({model_type: 't5'}))
    const bad = ligo(['import', hfDir, '-o', path.join(root, 'ck2')])
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stdout).error.message).toMatch(/config\.json: model_type "t5" \(architectures null\) is not supported: ligo reads gpt2/)
  })
})

describe('errors are typed', () => {
  it('uses InputError for export refusals and FileFormatError for bad files', () => {
    expect(() => writeHfDir(path.join(tmpDir(), 'x'), ligoModel({...SMALL, head_size: 8}))).toThrow(InputError)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Parity with transformers itself: golden logits of a GPT2LMHeadModel computed once by transformers 5.17.0 (torch 2.11,
// float32) from the tensors golden.ts's formula sets, on GOLDEN_IDS, columns GOLDEN_COLS (golden.ts has the Python side).
const GOLDEN_CONFIG = {architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 99, n_positions: 24, n_embd: 32, n_layer: 2, n_head: 4, n_inner: 40}
const GOLDEN_LOGITS = [
  [8.8948936, -9.702261, 2.7362244, -0.3573835],
  [9.6159515, -9.6060801, 0.4959294, 1.9218527],
  [7.3493328, -9.0615587, 5.1760201, -3.0283015],
  [9.5001516, -8.1235628, -3.3225803, 5.4729362],
  [1.7950991, 1.3941824, -8.7981997, 8.6938162],
  [6.5272889, -8.5725298, 6.0601573, -4.061213],
  [-2.963587, -0.2781585, 8.880929, -9.0614061],
  [5.2908611, -2.2668903, -8.1467924, 8.9508123],
  [0.2933024, -3.543591, 9.0820541, -8.4415646],
  [-5.4195361, 7.336493, -5.6420264, 3.944175],
  [4.5739636, -1.4690404, -8.4116268, 9.0211496],
  [-1.3760211, -1.9238689, 9.1295347, -8.900423],
]

describe('parity with transformers', () => {
  it('gives the logits GPT2LMHeadModel gives (transformers 5.17.0, golden values)', () => {
    expect(goldenLogitError(GOLDEN_CONFIG, GOLDEN_LOGITS)).toBeLessThan(1e-4)
  })
})
