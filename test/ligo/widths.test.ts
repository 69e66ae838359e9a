/**
 * Every method at every width: function preservation at residual widths that are not a multiple of the old
 * (LEMON's average expansion), and the logit difference reported where a method cannot be exact.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import {beforeAll, describe, expect, it} from 'vitest'

import {type Checkpoint, loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors} from '../../src/checkpoints/safetensors.js'
import {grow} from '../../src/ligo/grow.js'
import {checkBatches} from '../../src/ligo/preserve.js'
import {type ModelConfig, forward, schemaOf} from '../../src/model/index.js'
import {lossAndGrads} from '../../src/train/step.js'
import {relErr, tmpDir, useCpu} from '../helpers.js'
import {seededSource} from './fixtures.js'

beforeAll(useCpu)

const GPT2 = {vocab_size: 50, n_positions: 16, n_layer: 2, d_model: 12, n_head: 3, d_ffn: 40}
const LLAMA = {family: 'llama', vocab_size: 50, n_positions: 16, n_layer: 2, d_model: 8, n_head: 4, n_kv_head: 2, d_ffn: 24}

function logits(c: ModelConfig, w: Map<string, Float32Array>, ids: Int32Array, B: number, T: number): Float32Array {
  const out = tf.tidy(() => forward(c, new Map(schemaOf(c).map((p) => [p.name, tf.tensor(w.get(p.name)!, p.shape)])), ids, B, T))
  const a = out.dataSync() as Float32Array
  out.dispose()
  return a
}

const ids = Int32Array.from({length: 32}, (_, i) => (i * 17 + 3) % 50)

function compare(src: Checkpoint, out: string): number {
  const g = loadCheckpoint(out)
  return relErr(logits(g.meta.model, g.weights, ids, 2, 16), logits(src.meta.model, src.weights, ids, 2, 16))
}

describe('function-preserving growth at widths that are not a multiple of the old', () => {
  const cases: [string, Record<string, unknown>, {width: number; depth?: number}][] = [
    ['gpt2 12 → 16 (tied readout)', GPT2, {width: 16, depth: 3}],
    ['gpt2 12 → 20, untied readout', {...GPT2, tie_embeddings: false}, {width: 20, depth: 3}],
    ['gpt2 µP 12 → 16', {...GPT2, param: 'mup'}, {width: 16, depth: 3}],
    ['llama 8 → 12 (grouped kv heads)', LLAMA, {width: 12, depth: 3}],
    ['llama 8 → 12, tied readout', {...LLAMA, n_kv_head: 4, tie_embeddings: true}, {width: 12, depth: 3}],
  ]
  for (const [what, model, target] of cases) {
    it(`net2net and zero keep the logits: ${what}`, async () => {
      const src = seededSource(model)
      for (const method of ['net2net', 'zero'] as const) {
        const out = path.join(tmpDir(), method)
        const r = await grow({source: src, target, method, out, evalBatches: 0})
        expect(r.large.d_model).toBe(target.width)
        expect(r.function_check, method).toMatchObject({exact: true})
        // Float rounding gives ~1e-7; without the norm ε scaled by d1/d2 this is 4e-6 (llama) to 3e-5 (gpt2).
        expect(compare(src, out), `${what}: ${method}`).toBeLessThan(1e-6)
      }
    })
  }
})

describe('every method at every width', () => {
  it('stack and interleave without new blocks are exact too; with new blocks no function is claimed', async () => {
    const src = seededSource(GPT2)
    for (const method of ['stack', 'interleave'] as const) {
      const out = path.join(tmpDir(), method)
      const r = await grow({source: src, target: {width: 16}, method, out, evalBatches: 0})
      expect(r.function_check, method).toMatchObject({exact: true, reason: expect.stringMatching(/average expansion/)})
      expect(compare(src, out), method).toBeLessThan(1e-6)
      const deeper = await grow({source: src, target: {width: 16, depth: 4}, method, out: path.join(tmpDir(), method), evalBatches: 0})
      expect(deeper.function_check).toBeUndefined()
    }
  })

  it('post-LN BERT at a non-multiple width: not exact, and the reported logit difference is the real one', async () => {
    const model = {family: 'bert', vocab_size: 50, n_positions: 16, n_layer: 2, d_model: 12, n_head: 3}
    const src = seededSource(model)
    const warnings: string[] = []
    const out = path.join(tmpDir(), 'bert')
    const r = await grow({source: src, target: {width: 16}, method: 'net2net', out, evalBatches: 0, seed: 4, onEvent: (e) => e.kind === 'warn' && warnings.push(e.message)})
    expect(warnings.join(' ')).toMatch(/post-LayerNorm: growing the width 12 → 16 \(not a multiple\)/)
    const fc = r.function_check!
    expect(fc.exact).toBe(false)
    // The same batches (seeded ids, no data), logits computed here independently of src/ligo/preserve.ts.
    const g = loadCheckpoint(out)
    let diff = 0
    let scale = 0
    for (const b of checkBatches(src.meta.model, g.meta.model, undefined, 4)) {
      const a = logits(src.meta.model, src.weights, b.ids, b.B, b.T)
      const c = logits(g.meta.model, g.weights, b.ids, b.B, b.T)
      a.forEach((v, i) => ((diff = Math.max(diff, Math.abs(c[i] - v))), (scale = Math.max(scale, Math.abs(v)))))
    }
    expect(fc.tokens).toBe(64)
    expect(fc.max_abs_logit_diff).toBeCloseTo(diff, 6)
    expect(fc.max_abs_source_logit).toBeCloseTo(scale, 6)
    expect(diff / scale).toBeGreaterThan(1e-3) // really not exact (rounding is ~1e-7)
    // At a multiple of the width BERT's width growth is exact: nothing to measure.
    const r2 = await grow({source: src, target: {width: 24}, method: 'net2net', out: path.join(tmpDir(), 'bert24'), evalBatches: 0})
    expect(r2.function_check).toMatchObject({exact: true})
    expect(r2.function_check?.max_abs_logit_diff).toBeUndefined()
  })

  it('the new residual coordinates are alive: their gradients are non-zero and differ from one another', async () => {
    for (const model of [GPT2, LLAMA]) {
      const src = seededSource(model)
      const out = path.join(tmpDir(), 'g')
      await grow({source: src, target: {width: model.d_model + 4, depth: 3}, method: 'net2net', out, evalBatches: 0})
      const g = loadCheckpoint(out)
      const grads = new Map<string, Float32Array>()
      lossAndGrads(g.meta.model, g.schema, g.weights, {inputs: ids, targets: ids.map((x) => (x * 7 + 1) % 50), batch: 2, seq: 16}, grads)
      const emb = g.schema[0] // the token embedding [V, C]: a writer of the residual stream
      const C = emb.shape[1]
      const column = (c: number) => Array.from({length: emb.shape[0]}, (_, v) => grads.get(emb.name)![v * C + c])
      const norm = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0))
      const [n0, n1] = [column(model.d_model), column(model.d_model + 1)]
      expect(norm(n0), `${JSON.stringify(model)}`).toBeGreaterThan(1e-3 * norm(column(0)))
      expect(norm(n0.map((x, i) => x - n1[i])), `${JSON.stringify(model)}`).toBeGreaterThan(1e-3 * norm(n0))
    }
  })

  it('re-applies a saved average expansion with --operator byte for byte, and refuses a version mismatch', async () => {
    const src = seededSource(LLAMA)
    const first = path.join(tmpDir(), 'first')
    await grow({source: src, target: {width: 12, depth: 3}, method: 'net2net', out: first, evalBatches: 0})
    const op = readSafetensors(path.join(first, 'ligo.safetensors')).tensors
    expect(op.get('width.resid.Min')?.shape).toEqual([4, 8])
    expect(JSON.parse(fs.readFileSync(path.join(first, 'ligo.json'), 'utf8'))).toMatchObject({version: 2, large: {rms_norm_eps: 1e-6 * (8 / 12)}})
    const again = path.join(tmpDir(), 'again')
    await grow({source: src, target: {}, method: 'ligo', operatorFile: path.join(first, 'ligo.safetensors'), out: again, evalBatches: 0})
    expect(fs.readFileSync(path.join(again, 'model.safetensors')).equals(fs.readFileSync(path.join(first, 'model.safetensors')))).toBe(true)
    const desc = path.join(first, 'ligo.json')
    const json = JSON.parse(fs.readFileSync(desc, 'utf8'))
    for (const [version, message] of [[1, /format version 1 does not have/], [3, /version 3 is not supported \(this ligo reads versions 1 and 2\)/]] as const) {
      fs.writeFileSync(desc, JSON.stringify({...json, version}))
      await expect(grow({source: src, target: {}, method: 'ligo', operatorFile: path.join(first, 'ligo.safetensors'), out: path.join(tmpDir(), 'x'), evalBatches: 0})).rejects.toThrow(message)
    }
    // An operator without an average expansion written as version 1 (before it existed) still applies.
    const v1 = path.join(tmpDir(), 'v1')
    await grow({source: src, target: {width: 16}, method: 'net2net', out: v1, evalBatches: 0})
    const v1desc = path.join(v1, 'ligo.json')
    fs.writeFileSync(v1desc, JSON.stringify({...JSON.parse(fs.readFileSync(v1desc, 'utf8')), version: 1}))
    const v1again = path.join(tmpDir(), 'v1again')
    await grow({source: src, target: {}, method: 'ligo', operatorFile: path.join(v1, 'ligo.safetensors'), out: v1again, evalBatches: 0})
    expect(fs.readFileSync(path.join(v1again, 'model.safetensors')).equals(fs.readFileSync(path.join(v1, 'model.safetensors')))).toBe(true)
  })

  it('refuses what it cannot do, before writing anything', async () => {
    const src = seededSource(GPT2)
    const out = path.join(tmpDir(), 'ligo')
    await expect(grow({source: src, target: {width: 16}, method: 'ligo', out, dataDir: '/nonexistent', ligo: {widthInit: 'fp'}})).rejects.toThrow(/--width-init fp at 12 → 16 \(not a multiple\) is LEMON's average expansion/)
    expect(fs.readdirSync(out)).toEqual([])
    const gqa = seededSource({...LLAMA, n_head: 4, n_kv_head: 2})
    await expect(grow({source: gqa, target: {width: 10}, method: 'net2net', out: path.join(tmpDir(), 'q'), evalBatches: 0})).rejects.toThrow(/5 heads \(--width 10 \/ head size 2\) cannot keep the source's 2 query heads per key\/value head.*: use --width 12 \(6 heads, 3 kv heads\)/)
  })
})
