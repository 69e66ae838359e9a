/**
 * Hugging Face model directories: read one (config.json + model.safetensors, or a sharded
 * model.safetensors.index.json; F32, F16 or BF16) into a ligo model config and weights, and write one that
 * `transformers` loads as GPT2LMHeadModel, LlamaForCausalLM or BertForMaskedLM.
 *
 * The mapping between our tensors and HF's is a table (`mapping`): each row names an HF tensor, the schema
 * tensor(s) it holds and one of three operations —
 *   copy       same layout (GPT-2's Conv1D weights are stored (in, out) like ours; embeddings; vectors)
 *   transpose  nn.Linear weights, stored (out, in) by HF (every Llama and BERT matrix, every lm_head)
 *   fuse       GPT-2's c_attn: our q, k, v projections side by side along the output axis ([C,3A] and [3A])
 * Llama and BERT use HF's names internally, so their rows are the identity on names.
 *
 * Reading is strict: every tensor the model needs must be there with its HF shape; tensors that are neither
 * mapped nor known buffers (`IGNORED`) are refused by name, as are config values ligo cannot run (another
 * activation, rope scaling, attention biases in Llama, ...). Writing refuses models HF cannot express (GPT-2 and
 * BERT with head_size·n_head ≠ d_model, µP forward multipliers). Tied readouts are not written (transformers ties
 * them on load, as its own save_pretrained does); untied ones are, with `tie_word_embeddings: false` (an untied
 * BERT decoder also gets `cls.predictions.decoder.bias`, which transformers 5 keeps apart from cls.predictions.bias).
 * Checked once against transformers 5.17: every variant exported here loads with no missing or unexpected keys
 * and gives our logits; save_pretrained output (sharded, BF16, BertForPreTraining) imports and matches.
 *
 * config.json also gets a `ligo` key (which transformers keeps as a plain attribute): the full ligo model config
 * (µP base shapes, BERT's mask id...) and, when no tokenizer.json is written, the tokenizer description, so that
 * export → import gives back exactly the same checkpoint.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {commitDirAtomic, writeFileAtomic} from '../checkpoints/atomic.js'
import {SHARD_INDEX_FILE, type StFile, type StFloatDtype, type StTensor, readSafetensors, readShardedSafetensors, writeSafetensors} from '../checkpoints/safetensors.js'
import {HfBpeTokenizer} from '../data/hf-tokenizer.js'
import {type TokenizerJSON, tokenizerFromJSON} from '../data/tokenizer.js'
import {FileFormatError, InputError, preview} from '../errors.js'
import {forwardMultipliers} from '../mup/rules.js'
import {type Family, type ModelConfig, modelConfig, schemaOf} from './index.js'
import {MUP_KEYS} from './llama.js'
import {numel} from './schema.js'

export type Weights = Map<string, Float32Array>

/** The architectures read for each family; the first is the one written. */
export const HF_ARCHITECTURES: Readonly<Record<Family, readonly string[]>> = {
  gpt2: ['GPT2LMHeadModel', 'GPT2Model'],
  llama: ['LlamaForCausalLM'],
  bert: ['BertForMaskedLM', 'BertForPreTraining'],
}
const SUPPORTED = Object.entries(HF_ARCHITECTURES).map(([t, a]) => `${t} (${a.join(', ')})`).join(', ')

export const HF_DTYPES = ['F32', 'F16', 'BF16'] as const
const TORCH_DTYPE: Record<StFloatDtype, string> = {F32: 'float32', F16: 'float16', BF16: 'bfloat16'}

/** A model read from an HF directory. */
export interface HfModel {
  config: ModelConfig
  weights: Weights
  /** The ligo tokenizer description (kind 'none' with a reason when there is no usable tokenizer). */
  tokenizer: TokenizerJSON
  /** The directory's tokenizer.json, to carry along. */
  tokenizerFile?: Uint8Array
  provenance: Record<string, unknown>
}

/** True when `dir/config.json` is an HF config (has model_type or architectures) rather than a ligo checkpoint's. */
export function isHfDir(dir: string): boolean {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))
    return isObj(raw) && raw.format === undefined && (raw.model_type !== undefined || raw.architectures !== undefined)
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------------------
// The tensor mapping

type Op = 'copy' | 'transpose' | 'fuse'

interface Row {
  hf: string
  /** Read if present (overriding an earlier row for the same tensor), never reported missing. */
  optional?: boolean
  /** Shape in the HF file. */
  shape: number[]
  /** One schema tensor, or q, k, v for 'fuse'. */
  ours: string[]
  op: Op
}

/** HF names ↔ ours for a model (the table described in the header), in schema order. */
export function mapping(c: ModelConfig): Row[] {
  const rows: Row[] = []
  for (const s of schemaOf(c)) {
    if (c.family !== 'gpt2') {
      const linear = s.shape.length === 2 && (s.role === 'hidden' || s.role === 'readout')
      rows.push({hf: s.name, shape: linear ? [s.shape[1], s.shape[0]] : s.shape, ours: [s.name], op: linear ? 'transpose' : 'copy'})
    } else if (s.name === 'lm_head.weight') {
      rows.push({hf: s.name, shape: [s.shape[1], s.shape[0]], ours: [s.name], op: 'transpose'})
    } else if (/\.attn\.[kv]_proj\./.test(s.name)) {
      continue // part of the fused row written at q_proj
    } else if (/\.attn\.q_proj\./.test(s.name)) {
      const fused = s.name.replace('q_proj', 'c_attn')
      const shape = s.shape.length === 2 ? [s.shape[0], 3 * s.shape[1]] : [3 * s.shape[0]]
      rows.push({hf: `transformer.${fused}`, shape, ours: ['q', 'k', 'v'].map((x) => s.name.replace('q_proj', `${x}_proj`)), op: 'fuse'})
    } else {
      rows.push({hf: `transformer.${s.name}`, shape: s.shape, ours: [s.name], op: 'copy'})
    }
  }
  // An untied BERT decoder has its own bias in transformers ≥ 5 (in 4.x it is cls.predictions.bias itself): write it.
  if (c.family === 'bert' && !c.tie_embeddings) rows.push({hf: 'cls.predictions.decoder.bias', shape: [c.vocab_size], ours: ['cls.predictions.bias'], op: 'copy', optional: true})
  return rows
}

/**
 * Buffers and heads transformers keeps in its files that a ligo model has no use for (ignored on read). A stored
 * head of a tied model is ignored only once `fromHfTensors` has found it equal to the embedding (`TIED_HEAD`).
 */
function ignored(c: ModelConfig, name: string): boolean {
  if (c.tie_embeddings && name === TIED_HEAD[c.family].head) return true
  switch (c.family) {
    case 'gpt2':
      return /\.attn\.(bias|masked_bias)$/.test(name)
    case 'llama':
      return /\.rotary_emb\.inv_freq$/.test(name)
    case 'bert':
      return name === 'bert.embeddings.position_ids' || name.startsWith('bert.pooler.') || name.startsWith('cls.seq_relationship.') || name === 'cls.predictions.decoder.bias'
  }
}

/** The readout a tied model shares with its embedding, both [V,C] in HF files (canonical names). */
const TIED_HEAD: Readonly<Record<Family, {head: string; embedding: string}>> = {
  gpt2: {head: 'lm_head.weight', embedding: 'transformer.wte.weight'},
  llama: {head: 'lm_head.weight', embedding: 'model.embed_tokens.weight'},
  bert: {head: 'cls.predictions.decoder.weight', embedding: 'bert.embeddings.word_embeddings.weight'},
}

/** Names as transformers' own loader normalises them: GPT-2's optional `transformer.` prefix, BERT's gamma/beta. */
function canonical(c: ModelConfig, name: string): string {
  if (c.family === 'gpt2' && !name.startsWith('transformer.') && name !== 'lm_head.weight') return `transformer.${name}`
  if (c.family === 'bert') return name.replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight').replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias')
  return name
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]
  return out
}

/** Our weights → HF tensors. */
export function toHfTensors(c: ModelConfig, weights: Weights): Map<string, {shape: number[]; data: Float32Array}> {
  const out = new Map<string, {shape: number[]; data: Float32Array}>()
  for (const r of mapping(c)) {
    const src = r.ours.map((n) => {
      const w = weights.get(n)
      if (!w) throw new Error(`toHfTensors: no weights for ${n}`)
      return w
    })
    let data: Float32Array
    if (r.op === 'copy') data = src[0]
    else if (r.op === 'transpose') data = transpose(src[0], r.shape[1], r.shape[0])
    else {
      // [C,A]×3 → [C,3A] row by row (a bias is one row)
      const rows = r.shape.length === 2 ? r.shape[0] : 1
      const A = src[0].length / rows
      data = new Float32Array(3 * src[0].length)
      for (let i = 0; i < rows; i++) for (let j = 0; j < 3; j++) data.set(src[j].subarray(i * A, (i + 1) * A), i * 3 * A + j * A)
    }
    out.set(r.hf, {shape: r.shape, data})
  }
  return out
}

/** HF tensors → our weights; one error lists every missing, misshapen, unexpected or non-float tensor. */
export function fromHfTensors(c: ModelConfig, st: StFile, file: string): Weights {
  const tensors = new Map<string, StTensor>()
  for (const [name, t] of st.tensors) tensors.set(canonical(c, name), t)
  // BERT: the output bias may only be stored as the decoder's (the two are one parameter in transformers).
  if (c.family === 'bert' && !tensors.has('cls.predictions.bias') && tensors.has('cls.predictions.decoder.bias'))
    tensors.set('cls.predictions.bias', tensors.get('cls.predictions.decoder.bias')!)
  const rows = mapping(c)
  const problems: string[] = []
  const missing: string[] = []
  const weights: Weights = new Map()
  // A tied model's stored head is a copy transformers drops on load (it re-ties it to the embedding): harmless when
  // equal, but a different matrix means the config and the weights disagree, and either reading would be a guess.
  const tied = TIED_HEAD[c.family]
  const head = tensors.get(tied.head)
  const emb = tensors.get(tied.embedding)
  if (c.tie_embeddings && head && emb && head.data instanceof Float32Array && emb.data instanceof Float32Array && head.data.length === emb.data.length) {
    let differ = 0
    let worst = 0
    for (let i = 0; i < head.data.length; i++) {
      const d = Math.abs(head.data[i] - emb.data[i])
      if (!(d === 0) && !(Number.isNaN(head.data[i]) && Number.isNaN(emb.data[i]))) differ++
      if (d > worst) worst = d
    }
    if (differ > 0)
      problems.push(`'${tied.head}' is stored but differs from '${tied.embedding}' in ${differ} of ${head.data.length} values (max |difference| ${worst.toPrecision(3)}), while config.json ties them (tie_word_embeddings: true${c.family === 'llama' ? '' : ', the default when absent'}): set "tie_word_embeddings": false to use the stored head, or remove it to use the embedding`)
  } else if (c.tie_embeddings && head && (!emb || head.shape.join() !== emb.shape.join()))
    problems.push(`'${tied.head}' has shape [${head.shape}] but the model is tied to '${tied.embedding}' (${emb ? `[${emb.shape}]` : 'missing'}): set "tie_word_embeddings": false if the head is its own matrix`)
  for (const r of rows) {
    const t = tensors.get(r.hf)
    if (!t) {
      if (!r.optional) missing.push(r.hf)
      continue
    }
    if (t.shape.length !== r.shape.length || t.shape.some((d, i) => d !== r.shape[i])) {
      problems.push(`'${r.hf}' has shape [${t.shape}], expected [${r.shape}]`)
      continue
    }
    if (!(t.data instanceof Float32Array)) {
      problems.push(`'${r.hf}' has dtype ${t.dtype}, expected F32, F16 or BF16`)
      continue
    }
    if (r.op === 'copy') weights.set(r.ours[0], t.data)
    else if (r.op === 'transpose') weights.set(r.ours[0], transpose(t.data, r.shape[0], r.shape[1]))
    else {
      const rowsN = r.shape.length === 2 ? r.shape[0] : 1
      const A = t.data.length / rowsN / 3
      r.ours.forEach((n, j) => {
        const w = new Float32Array(rowsN * A)
        for (let i = 0; i < rowsN; i++) w.set(t.data.subarray(i * 3 * A + j * A, i * 3 * A + (j + 1) * A), i * A)
        weights.set(n, w)
      })
    }
  }
  const known = new Set(rows.map((r) => r.hf))
  const unexpected = [...tensors.keys()].filter((k) => !known.has(k) && !ignored(c, k))
  if (missing.length > 0) problems.push(`missing tensors: ${list(missing)}`)
  if (unexpected.length > 0) problems.push(`unexpected tensors: ${list(unexpected)} (not part of a ${HF_ARCHITECTURES[c.family][0]} with this config)`)
  if (problems.length > 0) throw new FileFormatError(file, `does not match config.json (${c.family}): ${problems.join('; ')}`)
  return weights
}

// ---------------------------------------------------------------------------------------------------------
// config.json ↔ ModelConfig

/** HF config keys: a number (or the default when absent), checked and named in errors. */
class HfKeys {
  constructor(
    readonly raw: Record<string, any>,
    readonly file: string,
  ) {}

  int(keys: string | string[], def?: number): number {
    const [k, v] = this.pick(keys, def)
    if (!Number.isInteger(v) || v < 0) throw new FileFormatError(this.file, `key '${k}' is ${preview(v)}: expected a non-negative integer`)
    return v
  }

  num(keys: string | string[], def?: number): number {
    const [k, v] = this.pick(keys, def)
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new FileFormatError(this.file, `key '${k}' is ${preview(v)}: expected a number`)
    return v
  }

  bool(k: string, def: boolean): boolean {
    const v = this.raw[k] ?? def
    if (typeof v !== 'boolean') throw new FileFormatError(this.file, `key '${k}' is ${preview(v)}: expected true or false`)
    return v
  }

  /** Refuses a key whose value ligo cannot run. */
  require(k: string, ok: (v: any) => boolean, expected: string, def?: unknown): void {
    const v = this.raw[k] ?? def
    if (!ok(v)) throw new FileFormatError(this.file, `key '${k}' is ${preview(v)}: ligo supports only ${expected}`)
  }

  /**
   * Refuses a config that lacks keys setting the tensor shapes (each entry: a key and its aliases), naming them
   * all. transformers would take its class defaults (LlamaConfig: hidden_size 4096, ...), which a model of
   * another size does not match; save_pretrained always writes them (they are not PretrainedConfig defaults).
   */
  requireAll(family: Family, keys: (string | string[])[]): void {
    const absent = keys.map((k) => (Array.isArray(k) ? k : [k])).filter((ks) => ks.every((k) => this.raw[k] === undefined || this.raw[k] === null))
    if (absent.length > 0)
      throw new FileFormatError(this.file, `missing required key${absent.length > 1 ? 's' : ''} ${absent.map((ks) => ks.map((k) => `'${k}'`).join(' or ')).join(', ')}: a ${family} config must give the sizes that set its tensor shapes (ligo does not guess them)`)
  }

  private pick(keys: string | string[], def?: number): [string, any] {
    const ks = Array.isArray(keys) ? keys : [keys]
    for (const k of ks) if (this.raw[k] !== undefined && this.raw[k] !== null) return [k, this.raw[k]]
    if (def === undefined) throw new FileFormatError(this.file, `missing key '${ks[0]}'`)
    return [ks[0], def]
  }
}

/** The family of an HF config, or a refusal naming the file, the key and what is supported. */
export function hfFamily(raw: Record<string, any>, file: string): Family {
  const archs: unknown = raw.architectures
  if (archs !== undefined && archs !== null && (!Array.isArray(archs) || archs.some((a) => typeof a !== 'string')))
    throw new FileFormatError(file, `key 'architectures' is ${preview(archs)}: expected a list of class names`)
  const byArch = (Object.keys(HF_ARCHITECTURES) as Family[]).find((f) => (archs as string[] | undefined)?.some((a) => HF_ARCHITECTURES[f].includes(a)))
  const type = raw.model_type ?? byArch
  if (typeof type !== 'string' || !(type in HF_ARCHITECTURES))
    throw new FileFormatError(file, `model_type ${preview(raw.model_type ?? null)} (architectures ${preview(archs ?? null)}) is not supported: ligo reads ${SUPPORTED}`)
  const family = type as Family
  const other = ((archs as string[] | undefined) ?? []).filter((a) => !HF_ARCHITECTURES[family].includes(a))
  if (other.length > 0)
    throw new FileFormatError(file, `architecture ${other.join(', ')} is not supported for model_type '${family}': ligo reads ${HF_ARCHITECTURES[family].join(', ')}`)
  return family
}

/** Our config from an HF config.json object. `extra` holds ligo-only keys (config.json's `ligo.model`). */
export function fromHfConfig(raw: Record<string, any>, file: string, extra: Record<string, unknown> = {}): ModelConfig {
  const family = hfFamily(raw, file)
  const k = new HfKeys(raw, file)
  const base = {...(extra.family === family ? extra : {}), family}
  let ours: Record<string, unknown>
  switch (family) {
    case 'gpt2': {
      k.require('activation_function', (v) => v === 'gelu_new' || v === 'gelu_pytorch_tanh', "'gelu_new' (GELU, tanh approximation)", 'gelu_new')
      k.require('scale_attn_weights', (v) => v === true, 'true', true)
      k.require('scale_attn_by_inverse_layer_idx', (v) => v === false, 'false', false)
      k.require('add_cross_attention', (v) => v === false, 'false', false)
      k.requireAll(family, ['vocab_size', ['n_positions', 'max_position_embeddings'], ['n_embd', 'hidden_size'], ['n_layer', 'num_hidden_layers'], ['n_head', 'num_attention_heads']])
      const d = k.int(['n_embd', 'hidden_size'])
      const nh = k.int(['n_head', 'num_attention_heads'])
      if (nh === 0 || d % nh !== 0) throw new FileFormatError(file, `n_head ${nh} does not divide n_embd ${d}`)
      ours = {
        ...base, vocab_size: k.int('vocab_size'), n_positions: k.int(['n_positions', 'max_position_embeddings']),
        n_layer: k.int(['n_layer', 'num_hidden_layers']), d_model: d, n_head: nh, head_size: d / nh,
        d_ffn: k.int('n_inner', 4 * d), tie_embeddings: k.bool('tie_word_embeddings', true),
        layer_norm_eps: k.num('layer_norm_epsilon', 1e-5), init_std: k.num('initializer_range', 0.02),
      }
      break
    }
    case 'llama': {
      k.require('hidden_act', (v) => v === 'silu', "'silu'", 'silu')
      k.require('attention_bias', (v) => v === false, 'false (no biases)', false)
      k.require('mlp_bias', (v) => v === false, 'false (no biases)', false)
      k.require('rope_scaling', (v) => v === null || (isObj(v) && (v.rope_type ?? v.type) === 'default'), "null (no rope scaling)", null)
      k.require('rope_parameters', (v) => v === null || (isObj(v) && (v.rope_type ?? 'default') === 'default'), "rope_type 'default'", null)
      // Optional as in LlamaConfig: num_key_value_heads (= heads), head_dim (= hidden/heads), max_position_embeddings
      // (2048; rotary positions have no table, so it sets only the longest sequence accepted).
      k.requireAll(family, ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'])
      const d = k.int('hidden_size')
      const nh = k.int('num_attention_heads')
      const rope = isObj(raw.rope_parameters) && raw.rope_parameters.rope_theta !== undefined ? new HfKeys(raw.rope_parameters, `${file} rope_parameters`) : k
      ours = {
        ...base, vocab_size: k.int('vocab_size'), n_positions: k.int('max_position_embeddings', 2048),
        n_layer: k.int('num_hidden_layers'), d_model: d, n_head: nh, n_kv_head: k.int('num_key_value_heads', nh),
        head_size: k.int('head_dim', nh > 0 ? Math.floor(d / nh) : 0), d_ffn: k.int('intermediate_size'),
        tie_embeddings: k.bool('tie_word_embeddings', false), rms_norm_eps: k.num('rms_norm_eps', 1e-6),
        rope_theta: rope.num('rope_theta', 10000), init_std: k.num('initializer_range', 0.02),
      }
      break
    }
    case 'bert': {
      k.require('hidden_act', (v) => v === 'gelu', "'gelu' (exact, erf)", 'gelu')
      k.require('position_embedding_type', (v) => v === 'absolute', "'absolute'", 'absolute')
      k.require('is_decoder', (v) => v === false, 'false (a bidirectional encoder)', false)
      k.require('add_cross_attention', (v) => v === false, 'false', false)
      // type_vocab_size stays optional (2, BertConfig's default, which nearly every BERT uses).
      k.requireAll(family, ['vocab_size', 'max_position_embeddings', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'])
      const d = k.int('hidden_size')
      const nh = k.int('num_attention_heads')
      if (nh === 0 || d % nh !== 0) throw new FileFormatError(file, `num_attention_heads ${nh} does not divide hidden_size ${d}`)
      ours = {
        ...base, vocab_size: k.int('vocab_size'), n_positions: k.int('max_position_embeddings'),
        type_vocab_size: k.int('type_vocab_size', 2), n_layer: k.int('num_hidden_layers'), d_model: d, n_head: nh,
        head_size: d / nh, d_ffn: k.int('intermediate_size'), tie_embeddings: k.bool('tie_word_embeddings', true),
        layer_norm_eps: k.num('layer_norm_eps', 1e-12), init_std: k.num('initializer_range', 0.02),
      }
      break
    }
  }
  return modelConfig(ours, file)
}

/** The config.json object for a model (without the `ligo` key and dtype). */
export function toHfConfig(c: ModelConfig, eot: number | null): Record<string, unknown> {
  // Explicit nulls: GPT2Config and LlamaConfig default to ids of their own vocabularies otherwise.
  const ids = {bos_token_id: eot, eos_token_id: eot}
  switch (c.family) {
    case 'gpt2':
      return {
        architectures: [HF_ARCHITECTURES.gpt2[0]], model_type: 'gpt2', vocab_size: c.vocab_size, n_positions: c.n_positions,
        n_embd: c.d_model, n_layer: c.n_layer, n_head: c.n_head, n_inner: c.d_ffn, activation_function: 'gelu_new',
        resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, layer_norm_epsilon: c.layer_norm_eps, initializer_range: c.init_std,
        scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false, use_cache: true,
        tie_word_embeddings: c.tie_embeddings, ...ids,
      }
    case 'llama':
      return {
        architectures: [HF_ARCHITECTURES.llama[0]], model_type: 'llama', vocab_size: c.vocab_size, hidden_size: c.d_model,
        intermediate_size: c.d_ffn, num_hidden_layers: c.n_layer, num_attention_heads: c.n_head, num_key_value_heads: c.n_kv_head,
        head_dim: c.head_size, max_position_embeddings: c.n_positions, rms_norm_eps: c.rms_norm_eps, rope_theta: c.rope_theta,
        rope_scaling: null, hidden_act: 'silu', attention_bias: false, attention_dropout: 0, mlp_bias: false, pretraining_tp: 1,
        initializer_range: c.init_std, tie_word_embeddings: c.tie_embeddings, use_cache: true, ...ids,
      }
    case 'bert':
      return {
        architectures: [HF_ARCHITECTURES.bert[0]], model_type: 'bert', vocab_size: c.vocab_size, hidden_size: c.d_model,
        num_hidden_layers: c.n_layer, num_attention_heads: c.n_head, intermediate_size: c.d_ffn, hidden_act: 'gelu',
        hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, max_position_embeddings: c.n_positions,
        type_vocab_size: c.type_vocab_size, initializer_range: c.init_std, layer_norm_eps: c.layer_norm_eps, pad_token_id: 0,
        position_embedding_type: 'absolute', tie_word_embeddings: c.tie_embeddings,
      }
  }
}

/**
 * Keys of our configs that HF configs do not carry (they travel in config.json's `ligo.model`): µP settings
 * (checked separately below), BERT's masking rule and the memory-saving chunk counts, which do not change the
 * function. Reversible blocks and LSH attention do change it, so they are refused by the round trip below.
 */
const LIGO_ONLY = new Set<string>([...MUP_KEYS, 'mask_id', 'mask_prob', 'ffn_chunks', 'loss_chunks'])

/** Refuses a model HF cannot express: a field that would not survive config.json, or µP forward multipliers. */
function checkExpressible(c: ModelConfig): void {
  const arch = HF_ARCHITECTURES[c.family][0]
  const back = fromHfConfig(toHfConfig(c, null), 'config.json') as unknown as Record<string, unknown>
  const differ = Object.entries(c).filter(([k, v]) => !LIGO_ONLY.has(k) && JSON.stringify(back[k]) !== JSON.stringify(v))
  if (differ.length > 0) {
    const what = differ.map(([k, v]) => `model.${k} = ${JSON.stringify(v)} (${arch} would have ${JSON.stringify(back[k])})`).join(', ')
    throw new InputError(`cannot export to ${arch}: ${what}${c.family !== 'llama' && c.head_size * c.n_head !== c.d_model ? `; ${arch} needs head_size·n_head = d_model` : ''}`)
  }
  const m = forwardMultipliers(c)
  const sp = 1 / Math.sqrt(c.head_size)
  if (m.input !== 1 || m.readout !== 1 || Math.abs(m.attention - sp) > 1e-12 * sp)
    throw new InputError(
      `cannot export to ${arch}: µP forward multipliers (input ×${m.input}, readout ×${m.readout}, attention scale ${m.attention} instead of 1/√${c.head_size}) have no Hugging Face equivalent; export a model at its µP base width with alpha_* = 1`,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Directories

/** Reads an HF model directory. */
export function readHfDir(dir: string): HfModel {
  const file = path.join(dir, 'config.json')
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new FileFormatError(file, `cannot read Hugging Face config: ${(error as Error).message}`)
  }
  if (!isObj(raw)) throw new FileFormatError(file, 'expected a JSON object')
  if (raw.format !== undefined) throw new FileFormatError(file, `not a Hugging Face config (format ${JSON.stringify(raw.format)}: a ligo checkpoint is used as it is)`)
  const ligo = isObj(raw.ligo) ? raw.ligo : {}
  const config = fromHfConfig(raw, file, isObj(ligo.model) ? ligo.model : {})

  // Weights: one file, or shards through the index.
  const single = path.join(dir, 'model.safetensors')
  const index = path.join(dir, SHARD_INDEX_FILE)
  let st: StFile
  let weightsFile: string
  if (fs.existsSync(single)) [st, weightsFile] = [readSafetensors(single), single]
  else if (fs.existsSync(index)) [st, weightsFile] = [readShardedSafetensors(dir), index]
  else {
    const other = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5', 'flax_model.msgpack'].filter((f) => fs.existsSync(path.join(dir, f)))
    throw new FileFormatError(dir, `no model.safetensors or ${SHARD_INDEX_FILE}${other.length > 0 ? ` (found ${other.join(', ')}: only safetensors weights are read; convert them with transformers' save_pretrained(safe_serialization=True))` : ''}`)
  }
  const weights = fromHfTensors(config, st, weightsFile)

  // Tokenizer: tokenizer.json if it is a byte-level BPE; else the one recorded by `ligo export`; else none.
  const tokFile = path.join(dir, 'tokenizer.json')
  let tokenizer: TokenizerJSON | undefined
  let tokenizerFile: Uint8Array | undefined
  let tokenizerNote: string | undefined
  let tokJson: Record<string, any> | undefined
  if (fs.existsSync(tokFile)) {
    tokenizerFile = fs.readFileSync(tokFile)
    try {
      tokJson = JSON.parse(Buffer.from(tokenizerFile).toString('utf8'))
      tokenizer = new HfBpeTokenizer(tokJson as Record<string, unknown>, tokFile).toJSON()
    } catch (error) {
      tokenizerNote = (error as Error).message
    }
  }
  if (!tokenizer && isObj(ligo.tokenizer) && typeof ligo.tokenizer.kind === 'string') tokenizer = ligo.tokenizer as TokenizerJSON
  tokenizer ??= {kind: 'none', reason: tokenizerNote ?? `${dir} has no tokenizer.json`}

  // BERT's [MASK]: ligo's own record, else the tokenizer's [MASK]/<mask> token, else the config default.
  let model = config
  if (model.family === 'bert' && !(isObj(ligo.model) && ligo.model.mask_id !== undefined)) {
    const added: unknown[] = Array.isArray(tokJson?.added_tokens) ? tokJson.added_tokens : []
    const mask = added.find((t): t is {id: number} => isObj(t) && (t.content === '[MASK]' || t.content === '<mask>') && Number.isInteger(t.id))
    if (mask && mask.id < model.vocab_size) model = {...model, mask_id: mask.id}
  }
  const dtypes = [...new Set([...st.tensors.values()].map((t) => t.dtype))].sort()
  return {
    config: model,
    weights,
    tokenizer,
    tokenizerFile,
    provenance: {imported_from: path.resolve(dir), hf_architecture: (raw.architectures as string[] | undefined)?.[0] ?? raw.model_type, hf_dtypes: dtypes},
  }
}

export interface HfWriteOptions {
  /** Stored dtype of every tensor (default F32). */
  dtype?: StFloatDtype
  /** tokenizer.json contents to write (default: regenerated from an hf-bpe tokenizer, else none). */
  tokenizerFile?: Uint8Array
}

export interface HfWriteResult {
  dir: string
  architecture: string
  dtype: StFloatDtype
  files: string[]
  tensors: number
  tied: boolean
}

/** Writes an HF model directory (replacing `dir` atomically as a whole). */
export function writeHfDir(dir: string, model: {config: ModelConfig; weights: Weights; tokenizer: object}, opts: HfWriteOptions = {}): HfWriteResult {
  const c = model.config
  const dtype = opts.dtype ?? 'F32'
  checkExpressible(c)
  for (const s of schemaOf(c)) {
    const w = model.weights.get(s.name)
    if (!w || w.length !== numel(s.shape)) throw new InputError(`cannot export: tensor ${s.name} is ${w ? `${w.length} values` : 'missing'}, expected [${s.shape}]`)
  }
  let tok: ReturnType<typeof tokenizerFromJSON> | undefined
  try {
    tok = tokenizerFromJSON(model.tokenizer, 'tokenizer')
  } catch {
    tok = undefined
  }
  let tokenizerFile = opts.tokenizerFile
  if (!tokenizerFile && tok instanceof HfBpeTokenizer) tokenizerFile = Buffer.from(JSON.stringify(tok.tokenizerJson(), null, 2) + '\n')
  const ligo: Record<string, unknown> = {model: c}
  if (!tokenizerFile) ligo.tokenizer = model.tokenizer
  const config = {...toHfConfig(c, tok?.eotId ?? null), torch_dtype: TORCH_DTYPE[dtype], ligo}

  const tensors = toHfTensors(c, model.weights)
  const parent = path.dirname(path.resolve(dir))
  fs.mkdirSync(parent, {recursive: true})
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${Date.now()}`)
  fs.mkdirSync(tmp)
  const files = ['config.json', 'model.safetensors']
  try {
    writeFileAtomic(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n')
    writeSafetensors(path.join(tmp, 'model.safetensors'), tensors, {dtype, metadata: {format: 'pt'}})
    if (tokenizerFile) {
      writeFileAtomic(path.join(tmp, 'tokenizer.json'), tokenizerFile)
      files.push('tokenizer.json')
    }
    commitDirAtomic(tmp, dir)
  } catch (error) {
    fs.rmSync(tmp, {recursive: true, force: true})
    throw error
  }
  return {dir, architecture: HF_ARCHITECTURES[c.family][0], dtype, files, tensors: tensors.size, tied: c.tie_embeddings}
}

function isObj(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function list(names: string[]): string {
  return names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')} and ${names.length - 12} more`
}
