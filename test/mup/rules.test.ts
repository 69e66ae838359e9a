import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {type ModelConfig, forward, modelConfig, schemaOf} from '../../src/model/index.js'
import {initWeights} from '../../src/model/init.js'
import {forwardMultipliers, initStds, lrMultipliers, mupTable, wdMultipliers, widthMultipliers} from '../../src/mup/index.js'
import {RULES, attentionScale} from '../../src/mup/rules.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {useCpu} from '../helpers.js'

beforeAll(useCpu)

/** A width ladder with head size 8 (heads grow with width) and base width 32. */
function ladder(width: number, extra: Record<string, unknown> = {}): ModelConfig {
  return modelConfig({
    vocab_size: 64, n_positions: 8, n_layer: 2, d_model: width, n_head: width / 8, head_size: 8, d_ffn: 4 * width,
    param: 'mup', base_d_model: 32, base_n_head: 4, base_head_size: 8, base_d_ffn: 128, ...extra,
  })
}

function row(c: ModelConfig, name: string, optimizer: Parameters<typeof mupTable>[2] = 'adamw') {
  const r = mupTable(c, schemaOf(c), optimizer).find((x) => x.name === name)
  if (!r) throw new Error(`no row ${name}`)
  return r
}

function logits(c: ModelConfig, w: Map<string, Float32Array>, ids: Int32Array, B: number, T: number): Float32Array {
  return tf.tidy(() => {
    const p = new Map(schemaOf(c).map((s) => [s.name, tf.tensor(w.get(s.name)!, s.shape)]))
    return forward(c, p, ids, B, T).dataSync() as Float32Array
  })
}

const ids = Int32Array.from({length: 16}, (_, i) => (i * 29 + 3) % 64)

describe('µP rule table', () => {
  it.each([32, 64, 128, 256])('gives each tensor type its multipliers at width %i (base 32)', (width) => {
    const m = width / 32
    const c = ladder(width, {tie_embeddings: false, alpha_in: 2, alpha_out: 3, alpha_attn: 0.5})
    const residStd = 0.02 / Math.sqrt(2 * 2)
    for (const name of ['wte.weight', 'wpe.weight'])
      expect(row(c, name)).toMatchObject({role: 'embedding', fan_in_mult: 1, lr_mult: 1, wd_mult: 1, output_mult: 2})
    expect(row(c, 'wte.weight').init_std).toBe(0.02)
    expect(row(c, 'wpe.weight').init_std).toBe(0.01)
    for (const name of ['h.0.attn.q_proj.weight', 'h.1.attn.k_proj.weight', 'h.0.attn.v_proj.weight', 'h.1.mlp.c_fc.weight']) {
      const r = row(c, name)
      expect(r).toMatchObject({role: 'hidden', fan_in_mult: m, lr_mult: 1 / m, wd_mult: m, output_mult: 1})
      expect(r.init_std).toBeCloseTo(0.02 / Math.sqrt(m), 12)
    }
    for (const name of ['h.0.attn.c_proj.weight', 'h.1.mlp.c_proj.weight']) {
      const r = row(c, name)
      expect(r).toMatchObject({fan_in_mult: m, lr_mult: 1 / m, wd_mult: m})
      expect(r.init_std).toBeCloseTo(residStd / Math.sqrt(m), 12)
    }
    for (const name of ['h.0.ln_1.weight', 'h.1.ln_2.bias', 'h.0.attn.q_proj.bias', 'h.1.mlp.c_fc.bias', 'ln_f.weight'])
      expect(row(c, name)).toMatchObject({fan_in_mult: 1, init_std: null, lr_mult: 1, wd_mult: 0, output_mult: 1})
    expect(row(c, 'lm_head.weight')).toMatchObject({role: 'readout', fan_in_mult: m, init_std: 0.02, lr_mult: 1, wd_mult: 1, output_mult: 3 / m})
    // The forward: α_in on the embeddings, α_out/m on the logits, α_attn·√HS₀/HS on qᵀk (HS fixed here).
    expect(forwardMultipliers(c)).toEqual({input: 2, readout: 3 / m, attention: 0.5 / Math.sqrt(8)})
    expect(widthMultipliers(c)).toEqual({resid: m, attn: m, ffn: m, head: 1})
    // lr × wd = 1 for every decaying tensor: the per-step decay η·λ does not depend on width.
    for (const r of mupTable(c, schemaOf(c))) if (r.wd_mult !== 0) expect(r.lr_mult * r.wd_mult).toBeCloseTo(1, 12)
  })

  it('follows each space separately when widths grow unevenly', () => {
    // d_model ×2, heads ×1 but head size ×4 (attention ×4), d_ffn ×8.
    const c = modelConfig({
      vocab_size: 64, n_positions: 8, n_layer: 1, d_model: 64, n_head: 4, head_size: 32, d_ffn: 1024,
      param: 'mup', base_d_model: 32, base_n_head: 4, base_head_size: 8, base_d_ffn: 128,
    })
    expect(row(c, 'h.0.attn.q_proj.weight').lr_mult).toBe(1 / 2) // fan-in: resid
    expect(row(c, 'h.0.attn.c_proj.weight').lr_mult).toBe(1 / 4) // fan-in: the attention output (v)
    expect(row(c, 'h.0.mlp.c_proj.weight').lr_mult).toBe(1 / 8) // fan-in: ffn
    expect(forwardMultipliers(c).attention).toBeCloseTo(Math.sqrt(8) / 32, 15) // α_attn·√HS₀/HS: the 1/d rule
    expect(forwardMultipliers(c).readout).toBe(1 / 2)
    expect(widthMultipliers(c)).toEqual({resid: 2, attn: 4, ffn: 8, head: 4})
  })

  it('uses 1/√m hidden LRs for Adafactor with parameter-relative steps, and the Adam rows for CAME', () => {
    const c = ladder(128)
    expect(row(c, 'h.0.mlp.c_fc.weight', 'came').lr_mult).toBe(1 / 4)
    expect(row(c, 'h.0.mlp.c_fc.weight', 'adafactor').lr_mult).toBe(1 / 4)
    expect(row(c, 'h.0.mlp.c_fc.weight', {optimizer: 'adafactor', scale_parameter: true}).lr_mult).toBe(1 / 2)
    expect(row(c, 'wte.weight', {optimizer: 'adafactor', scale_parameter: true}).lr_mult).toBe(1)
    expect(() => mupTable(c, schemaOf(c), 'sgd')).toThrow(/no µP rules for optimizer 'sgd'/)
    // Init and forward columns do not depend on the optimizer family.
    for (const role of ['embedding', 'hidden', 'readout', 'gain', 'bias'] as const) {
      const w = {fan_in: 4, fan_out: 2}
      const a = {alpha_in: 2, alpha_out: 3, alpha_attn: 5}
      expect(RULES.adam_relative[role].init(w)).toBe(RULES.adam[role].init(w))
      expect(RULES.adam_relative[role].output(w, a)).toBe(RULES.adam[role].output(w, a))
    }
  })

  it('is SP (every factor 1) under param sp, whatever the base shapes say', () => {
    const c = ladder(256, {param: 'sp'})
    const schema = schemaOf(c)
    expect(lrMultipliers(c, schema).size).toBe(0)
    expect(initStds(c, schema).size).toBe(0)
    expect(forwardMultipliers(c)).toEqual({input: 1, readout: 1, attention: 1 / Math.sqrt(8)})
    for (const r of mupTable(c, schema)) expect([r.lr_mult, r.output_mult, r.fan_in_mult]).toEqual([1, 1, 1])
  })

  it('keeps global η, σ and α after growth and recomputes per-tensor factors for the new width', () => {
    const small = ladder(64, {alpha_out: 2})
    const grown = ladder(128, {alpha_out: 2}) // same base shapes and α's, twice the width
    expect(row(grown, 'h.0.mlp.c_fc.weight').lr_mult).toBe(row(small, 'h.0.mlp.c_fc.weight').lr_mult / 2)
    expect(row(grown, 'wte.weight').lr_mult).toBe(row(small, 'wte.weight').lr_mult)
    expect(forwardMultipliers(grown).readout).toBe(forwardMultipliers(small).readout / 2)
    // An SP checkpoint's base is its own width: switching it to µP changes nothing.
    const sp = modelConfig({vocab_size: 64, n_positions: 8, n_layer: 1, d_model: 48, n_head: 3})
    expect(sp).toMatchObject({param: 'sp', base_d_model: 48, base_n_head: 3, base_head_size: 16, base_d_ffn: 192})
    const asMup = modelConfig({...sp, param: 'mup'})
    expect(lrMultipliers(asMup, schemaOf(asMup)).size).toBe(0)
  })

  it('writes the attention scale so that HS = HS₀ gives exactly 1/√HS', () => {
    for (const hs of [8, 12, 16, 64, 80, 128]) expect(attentionScale(hs, 1, 1)).toBe(1 / Math.sqrt(hs))
    expect(attentionScale(64, 4, 1)).toBeCloseTo(Math.sqrt(16) / 64, 15)
  })
})

describe('µP at base width is SP exactly', () => {
  it.each([true, false])('gives bitwise equal logits, inits and LR multipliers (tied head: %s)', (tie) => {
    const raw = {vocab_size: 64, n_positions: 8, n_layer: 2, d_model: 24, n_head: 3, d_ffn: 40, tie_embeddings: tie}
    const sp = modelConfig(raw)
    const mup = modelConfig({...raw, param: 'mup'})
    const schema = schemaOf(mup)
    expect(lrMultipliers(mup, schema)).toEqual(lrMultipliers(sp, schemaOf(sp)))
    expect(lrMultipliers(mup, schema).size).toBe(0)
    expect(wdMultipliers(mup, schema).size).toBe(0)
    expect(initStds(mup, schema)).toEqual(new Map())
    const wSp = initWeights(schemaOf(sp), 5, initStds(sp, schemaOf(sp)))
    const wMup = initWeights(schema, 5, initStds(mup, schema))
    for (const [k, v] of wSp) expect(Buffer.from(wMup.get(k)!.buffer).equals(Buffer.from(v.buffer))).toBe(true)
    const a = logits(sp, wSp, ids, 2, 8)
    const b = logits(mup, wMup, ids, 2, 8)
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true)
  })

  it('applies the readout multiplier α_out/m on the logits of a wider µP model', () => {
    const c = ladder(64) // m = 2; head size fixed, so the attention scale equals SP's
    const sp = modelConfig({...c, param: 'sp'})
    const w = initWeights(schemaOf(c), 3)
    const a = logits(sp, w, ids.map((x) => x % 64), 2, 8)
    const b = logits(c, w, ids.map((x) => x % 64), 2, 8)
    for (let i = 0; i < a.length; i += 7) expect(b[i]).toBeCloseTo(a[i] / 2, 6)
  })

  it('zero-initialises the queries when asked, drawing the other tensors as before', () => {
    const c = ladder(64, {zero_query: true})
    const plain = ladder(64)
    const w = initWeights(schemaOf(c), 9, initStds(c, schemaOf(c)))
    const w0 = initWeights(schemaOf(plain), 9, initStds(plain, schemaOf(plain)))
    expect(w.get('h.1.attn.q_proj.weight')!.every((x) => x === 0)).toBe(true)
    expect(w.get('h.1.attn.k_proj.weight')).toEqual(w0.get('h.1.attn.k_proj.weight'))
    expect(row(c, 'h.0.attn.q_proj.weight').init_std).toBe(0)
  })
})

describe('µP config', () => {
  it('validates the µP keys, naming them', () => {
    const base = {vocab_size: 64, n_positions: 8, n_layer: 1, d_model: 32, n_head: 4}
    expect(() => modelConfig({...base, param: 'ntk'})).toThrow(/model\.param.*one of sp, mup/)
    expect(() => modelConfig({...base, base_d_model: 0})).toThrow(/model\.base_d_model/)
    expect(() => modelConfig({...base, base_width: 16})).toThrow(/model\.base_width.*no such key/)
    expect(() => modelConfig({...base, alpha_out: -1})).toThrow(/model\.alpha_out/)
    expect(() => modelConfig({...base, zero_query: 'yes'})).toThrow(/model\.zero_query.*true or false/)
  })

  it('takes --param from the command line (override model.param)', () => {
    const run = resolveRunConfig({model: {d_model: 32, n_head: 4, base_d_model: 16, base_n_head: 2, base_d_ffn: 64}, train: {seq: 16}}, {param: 'mup'})
    expect(run.model).toMatchObject({param: 'mup', base_d_model: 16, base_head_size: 8})
    expect(widthMultipliers(run.model)).toEqual({resid: 2, attn: 2, ffn: 2, head: 1})
    expect(() => resolveRunConfig({}, {param: 'xp'})).toThrow(/param.*one of sp, mup/)
  })
})
