/**
 * Independent float64 forwards of the three Hugging Face architectures ligo reads and writes, written from
 * transformers' modeling_gpt2.py, modeling_llama.py and modeling_bert.py — not from ligo's model code. They read
 * HF tensors (HF names and layouts: GPT-2's Conv1D (in, out) with fused c_attn, nn.Linear (out, in) elsewhere) and
 * an HF config object, and return logits [T][V] for one sequence. `hfDirReference` runs the right one on a
 * directory as written (config.json + model.safetensors), which is how exports are checked.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {readSafetensors} from '../../src/checkpoints/safetensors.js'

export type HfTensors = Map<string, {shape: number[]; data: Float32Array | Int32Array}>
// HF config objects (config.json), read by key.
type HfConfig = Record<string, any>

/** y[out] = x·W + b with W stored (in, out) (GPT-2's Conv1D); columns col0.. of a stride-wide matrix. */
function conv1d(W: ArrayLike<number>, b: ArrayLike<number>, x: number[], out: number, col0 = 0, stride = out): number[] {
  const y = Array.from({length: out}, (_, o) => b[col0 + o])
  for (let i = 0; i < x.length; i++) for (let o = 0; o < out; o++) y[o] += x[i] * W[i * stride + col0 + o]
  return y
}

/** y[out] = W[out,in]·x + b (nn.Linear layout). */
function matvec(W: ArrayLike<number>, x: number[], out: number, b?: ArrayLike<number>): number[] {
  const n = x.length
  const y = Array.from({length: out}, (_, o) => (b ? b[o] : 0))
  for (let o = 0; o < out; o++) for (let i = 0; i < n; i++) y[o] += W[o * n + i] * x[i]
  return y
}

function layerNorm(x: number[], g: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length
  const v = x.reduce((a, z) => a + (z - mean) ** 2, 0) / x.length
  return x.map((z, i) => ((z - mean) / Math.sqrt(v + eps)) * g[i] + b[i])
}

function rmsNorm(x: number[], g: ArrayLike<number>, eps: number): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * g[i])
}

const geluNew = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)))

/** erf in float64: Taylor series below 4, 1 beyond (|1 - erf(4)| < 2e-8). */
function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x)
  let term = x, sum = x
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n
    const add = term / (2 * n + 1)
    sum += add
    if (Math.abs(add) < 1e-17) break
  }
  return (2 / Math.sqrt(Math.PI)) * sum
}
const geluErf = (z: number) => 0.5 * z * (1 + erf(z / Math.SQRT2))

/** softmax(s)·v over the allowed positions u of one head: out[i] += Σ_u p_u·value(u, i). */
function attend(scores: number[], value: (u: number, i: number) => number, HS: number, out: number[], o0: number): void {
  const m = Math.max(...scores)
  const e = scores.map((z) => Math.exp(z - m))
  const z = e.reduce((a, b) => a + b, 0)
  for (let u = 0; u < scores.length; u++) for (let i = 0; i < HS; i++) out[o0 + i] += (e[u] / z) * value(u, i)
}

/** GPT2LMHeadModel.forward in float64, from modeling_gpt2.py: logits [T][V]. */
export function gpt2Reference(cfg: HfConfig, w: HfTensors, ids: number[], prefix = 'transformer.'): number[][] {
  const g = (n: string) => w.get(n)!.data
  const C = cfg.n_embd, NH = cfg.n_head, HS = C / NH, F = cfg.n_inner ?? 4 * C, V = cfg.vocab_size, eps = cfg.layer_norm_epsilon ?? 1e-5
  const row = (n: string, i: number) => Array.from(g(n).subarray(i * C, (i + 1) * C), Number)
  let xs = ids.map((id, t) => row(prefix + 'wte.weight', id).map((v, i) => v + row(prefix + 'wpe.weight', t)[i]))
  for (let l = 0; l < cfg.n_layer; l++) {
    const p = `${prefix}h.${l}.`
    const hs = xs.map((x) => layerNorm(x, g(p + 'ln_1.weight'), g(p + 'ln_1.bias'), eps))
    // c_attn output = [q | k | v] (split along the last axis)
    const qkv = hs.map((h) => conv1d(g(p + 'attn.c_attn.weight'), g(p + 'attn.c_attn.bias'), h, 3 * C))
    xs = xs.map((x, t) => {
      const o = new Array<number>(C).fill(0)
      for (let h = 0; h < NH; h++) {
        const s = Array.from({length: t + 1}, (_, u) => {
          let d = 0
          for (let i = 0; i < HS; i++) d += qkv[t][h * HS + i] * qkv[u][C + h * HS + i]
          return d / Math.sqrt(HS)
        })
        attend(s, (u, i) => qkv[u][2 * C + h * HS + i], HS, o, h * HS)
      }
      const a = conv1d(g(p + 'attn.c_proj.weight'), g(p + 'attn.c_proj.bias'), o, C)
      return x.map((xi, i) => xi + a[i])
    })
    xs = xs.map((x) => {
      const h = layerNorm(x, g(p + 'ln_2.weight'), g(p + 'ln_2.bias'), eps)
      const f = conv1d(g(p + 'mlp.c_fc.weight'), g(p + 'mlp.c_fc.bias'), h, F).map(geluNew)
      const d = conv1d(g(p + 'mlp.c_proj.weight'), g(p + 'mlp.c_proj.bias'), f, C)
      return x.map((xi, i) => xi + d[i])
    })
  }
  const tied = cfg.tie_word_embeddings ?? true
  const head = tied ? g(prefix + 'wte.weight') : g('lm_head.weight') // both [V,C]
  return xs.map((x) => matvec(head, layerNorm(x, g(prefix + 'ln_f.weight'), g(prefix + 'ln_f.bias'), eps), V))
}

/** LlamaForCausalLM.forward in float64, from modeling_llama.py: logits [T][V]. */
export function llamaReference(cfg: HfConfig, w: HfTensors, ids: number[]): number[][] {
  const g = (n: string) => w.get(n)!.data
  const C = cfg.hidden_size, NH = cfg.num_attention_heads, NKV = cfg.num_key_value_heads ?? NH, F = cfg.intermediate_size
  const HS = cfg.head_dim ?? C / NH, half = HS / 2, V = cfg.vocab_size, eps = cfg.rms_norm_eps, theta = cfg.rope_theta ?? 10000
  const E = g('model.embed_tokens.weight')
  // rotate_half convention: pairs (i, i + HS/2), frequency θ^(-2i/HS)
  const rope = (x: number[], t: number, heads: number) => {
    const y = [...x]
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < half; i++) {
        const a = t / Math.pow(theta, (2 * i) / HS)
        const [x1, x2] = [x[h * HS + i], x[h * HS + half + i]]
        y[h * HS + i] = x1 * Math.cos(a) - x2 * Math.sin(a)
        y[h * HS + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a)
      }
    return y
  }
  let xs = ids.map((id) => Array.from(E.subarray(id * C, (id + 1) * C), Number))
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`
    const hs = xs.map((x) => rmsNorm(x, g(p + 'input_layernorm.weight'), eps))
    const q = hs.map((h, t) => rope(matvec(g(p + 'self_attn.q_proj.weight'), h, NH * HS), t, NH))
    const k = hs.map((h, t) => rope(matvec(g(p + 'self_attn.k_proj.weight'), h, NKV * HS), t, NKV))
    const v = hs.map((h) => matvec(g(p + 'self_attn.v_proj.weight'), h, NKV * HS))
    xs = xs.map((x, t) => {
      const o = new Array<number>(NH * HS).fill(0)
      for (let h = 0; h < NH; h++) {
        const kv = Math.floor(h / (NH / NKV)) // repeat_kv
        const s = Array.from({length: t + 1}, (_, u) => {
          let d = 0
          for (let i = 0; i < HS; i++) d += q[t][h * HS + i] * k[u][kv * HS + i]
          return d / Math.sqrt(HS)
        })
        attend(s, (u, i) => v[u][kv * HS + i], HS, o, h * HS)
      }
      const a = matvec(g(p + 'self_attn.o_proj.weight'), o, C)
      return x.map((xi, i) => xi + a[i])
    })
    xs = xs.map((x) => {
      const h = rmsNorm(x, g(p + 'post_attention_layernorm.weight'), eps)
      const gate = matvec(g(p + 'mlp.gate_proj.weight'), h, F)
      const up = matvec(g(p + 'mlp.up_proj.weight'), h, F)
      const act = gate.map((z, i) => (z / (1 + Math.exp(-z))) * up[i])
      const d = matvec(g(p + 'mlp.down_proj.weight'), act, C)
      return x.map((xi, i) => xi + d[i])
    })
  }
  const head = cfg.tie_word_embeddings ? E : g('lm_head.weight')
  return xs.map((x) => matvec(head, rmsNorm(x, g('model.norm.weight'), eps), V))
}

/** BertForMaskedLM.forward in float64 (one segment, no padding), from modeling_bert.py: logits [T][V]. */
export function bertReference(cfg: HfConfig, w: HfTensors, ids: number[]): number[][] {
  const g = (n: string) => w.get(n)!.data
  const C = cfg.hidden_size, NH = cfg.num_attention_heads, HS = C / NH, F = cfg.intermediate_size, V = cfg.vocab_size
  const eps = cfg.layer_norm_eps ?? 1e-12
  const row = (n: string, i: number) => Array.from(g(n).subarray(i * C, (i + 1) * C), Number)
  let xs = ids.map((id, t) => {
    const [a, b, c] = [row('bert.embeddings.word_embeddings.weight', id), row('bert.embeddings.position_embeddings.weight', t), row('bert.embeddings.token_type_embeddings.weight', 0)]
    return layerNorm(a.map((v, i) => v + b[i] + c[i]), g('bert.embeddings.LayerNorm.weight'), g('bert.embeddings.LayerNorm.bias'), eps)
  })
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`
    const lin = (n: string, x: number[], out: number) => matvec(g(p + n + '.weight'), x, out, g(p + n + '.bias'))
    const q = xs.map((x) => lin('attention.self.query', x, C))
    const k = xs.map((x) => lin('attention.self.key', x, C))
    const v = xs.map((x) => lin('attention.self.value', x, C))
    xs = xs.map((x, t) => {
      const ctx = new Array<number>(C).fill(0)
      for (let h = 0; h < NH; h++) {
        const s = xs.map((_, u) => {
          let d = 0
          for (let i = 0; i < HS; i++) d += q[t][h * HS + i] * k[u][h * HS + i]
          return d / Math.sqrt(HS)
        })
        attend(s, (u, i) => v[u][h * HS + i], HS, ctx, h * HS)
      }
      const a = lin('attention.output.dense', ctx, C)
      const x1 = layerNorm(a.map((ai, i) => ai + x[i]), g(p + 'attention.output.LayerNorm.weight'), g(p + 'attention.output.LayerNorm.bias'), eps)
      const inter = lin('intermediate.dense', x1, F).map(geluErf)
      const o = lin('output.dense', inter, C)
      return layerNorm(o.map((oi, i) => oi + x1[i]), g(p + 'output.LayerNorm.weight'), g(p + 'output.LayerNorm.bias'), eps)
    })
  }
  const tied = cfg.tie_word_embeddings ?? true
  const decoder = tied ? g('bert.embeddings.word_embeddings.weight') : g('cls.predictions.decoder.weight')
  // transformers ≥ 5 keeps an untied decoder's own bias apart from cls.predictions.bias; ligo writes both equal.
  const bias = !tied && w.has('cls.predictions.decoder.bias') ? g('cls.predictions.decoder.bias') : g('cls.predictions.bias')
  return xs.map((x) => {
    const h = matvec(g('cls.predictions.transform.dense.weight'), x, C, g('cls.predictions.transform.dense.bias')).map(geluErf)
    const n = layerNorm(h, g('cls.predictions.transform.LayerNorm.weight'), g('cls.predictions.transform.LayerNorm.bias'), eps)
    return matvec(decoder, n, V, bias)
  })
}

/** The reference logits of an HF model directory as written: config.json + model.safetensors. */
export function hfDirReference(dir: string, ids: number[]): number[][] {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as HfConfig
  const w: HfTensors = new Map([...readSafetensors(path.join(dir, 'model.safetensors')).tensors].map(([k, t]) => [k, {shape: t.shape, data: t.data as Float32Array}]))
  switch (cfg.model_type) {
    case 'gpt2':
      return gpt2Reference(cfg, w, ids)
    case 'llama':
      return llamaReference(cfg, w, ids)
    case 'bert':
      return bertReference(cfg, w, ids)
    default:
      throw new Error(`hfDirReference: model_type ${cfg.model_type}`)
  }
}
