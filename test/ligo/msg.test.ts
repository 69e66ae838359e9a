import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {BatchSampler} from '../../src/data/batches.js'
import {loadDataDir} from '../../src/data/prepare.js'
import {Rng} from '../../src/data/rng.js'
import {grow} from '../../src/ligo/grow.js'
import {writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, modelConfig, schemaOf} from '../../src/model/index.js'
import type {MsgState} from '../../src/model/msg.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {lossOnly} from '../../src/train/step.js'
import {train} from '../../src/train/trainer.js'
import {ligo} from '../cli/run.js'
import {relErr, runMetrics, smallBrown, tmpDir, useCpu} from '../helpers.js'
import {logits, randomSource} from './growth-fixtures.js'

let data: string
beforeAll(async () => {
  await useCpu()
  data = await smallBrown()
})

const msgOf = (m: ModelConfig): MsgState | undefined => (m as {msg?: MsgState}).msg

/** Overwrites every grown value (outside the source's corner, and whole new blocks) with large random numbers. */
function scrambleGrown(model: ModelConfig, weights: Map<string, Float32Array>, seed: number): void {
  const from = msgOf(model)!.from
  const small = modelConfig({...model, msg: undefined, n_layer: from.n_layer, d_model: from.d_model, n_head: from.n_head, d_ffn: from.d_ffn,
    ...(model.family === 'llama' ? {n_kv_head: from.n_kv_head} : {}), head_size: model.head_size})
  const smallShapes = new Map(schemaOf(small).map((p) => [`${p.layer}/${p.module}`, p.shape]))
  const r = new Rng(seed)
  for (const P of schemaOf(model)) {
    const w = weights.get(P.name)!
    const S = smallShapes.get(`${P.layer}/${P.module}`)
    const cols = P.shape[P.shape.length - 1]
    for (let i = 0; i < w.length; i++) {
      const row = Math.floor(i / cols)
      const col = i % cols
      const inCorner = S !== undefined && col < S[S.length - 1] && (P.shape.length === 1 || row < S[0])
      if (!inCorner) w[i] = 2 * r.normal()
    }
  }
}

describe('grow --method msg', () => {
  const cases: [string, Record<string, unknown>, {width?: number; depth?: number}][] = [
    ['gpt2, width ×2 and depth 2 → 3', {}, {width: 32, depth: 3}],
    ['gpt2 µP, width 16 → 24 (not a multiple) and depth 2 → 4', {param: 'mup'}, {width: 24, depth: 4}],
    ['gpt2 untied, depth only', {tie_embeddings: false}, {depth: 3}],
    ['llama with grouped KV heads, width ×2 and depth 2 → 3', {family: 'llama', n_head: 4, n_kv_head: 2, d_ffn: 40}, {width: 32, depth: 3}],
    ['llama µP tied, width only', {family: 'llama', param: 'mup', tie_embeddings: true}, {width: 32}],
  ]
  for (const [name, raw, target] of cases) {
    it(`keeps the source's logits at step 0, whatever the new weights (${name})`, async () => {
      const src = randomSource(raw, 3)
      const ref = logits(src.meta.model, src.weights)
      const out = path.join(tmpDir(), 'msg')
      const r = await grow({source: src, target, method: 'msg', out, growSteps: 5, evalBatches: 0})
      const g = loadCheckpoint(out)
      expect(msgOf(g.meta.model)).toEqual({grow_steps: 5, step: 0, from: expect.objectContaining({n_layer: 2, d_model: 16})})
      expect(relErr(logits(g.meta.model, g.weights), ref), 'as grown').toBeLessThan(1e-5)
      scrambleGrown(g.meta.model, g.weights, 9)
      expect(relErr(logits(g.meta.model, g.weights), ref), 'new weights scrambled').toBeLessThan(1e-5)
      // The masks are what keeps it: the same weights without them compute something else.
      const {msg: _m, ...plain} = g.meta.model as ModelConfig & {msg?: MsgState}
      expect(relErr(logits(plain as ModelConfig, g.weights), ref), 'masks dropped').toBeGreaterThan(1e-2)
      expect(r.large.n_layer).toBe(target.depth ?? 2)
    })
  }

  it('records the inserted blocks and refuses what MSG cannot grow', async () => {
    const src = randomSource({}, 4)
    const out = path.join(tmpDir(), 'msg')
    await grow({source: src, target: {width: 32, depth: 4}, method: 'msg', out, evalBatches: 0})
    const g = loadCheckpoint(out)
    expect((g.meta.provenance as {growth: {new_blocks: number[]; msg_grow_steps: number}}).growth).toMatchObject({new_blocks: [2, 3], msg_grow_steps: 300})
    const bert = randomSource({family: 'bert'}, 5)
    await expect(grow({source: bert, target: {depth: 3}, method: 'msg', out: path.join(tmpDir(), 'b'), evalBatches: 0})).rejects.toThrow(/post-LayerNorm/)
    const rev = randomSource({reversible: true}, 5)
    await expect(grow({source: rev, target: {depth: 3}, method: 'msg', out: path.join(tmpDir(), 'r'), evalBatches: 0})).rejects.toThrow(/reversible blocks/)
    // A still-ramping model is not grown again, and its config cannot claim more than it has.
    await expect(grow({source: g, target: {depth: 5}, method: 'msg', out: path.join(tmpDir(), 'again'), evalBatches: 0})).rejects.toThrow(/still ramping/)
    expect(() => modelConfig({...g.meta.model, msg: {...msgOf(g.meta.model)!, step: 300}})).toThrow(/model\.msg\.step/)
    expect(() => modelConfig({...g.meta.model, msg: {...msgOf(g.meta.model)!, from: {...msgOf(g.meta.model)!.from, d_model: 64}}})).toThrow(/model\.msg\.from\.d_model/)
  })

  it('ramps the masks in `ligo train`: 1 at the configured step, saved in every checkpoint, resumed exactly; export waits for the end', async () => {
    const src = randomSource({vocab_size: 256}, 6)
    const grown = path.join(tmpDir(), 'msg')
    await grow({source: src, target: {width: 24, depth: 3}, method: 'msg', out: grown, growSteps: 4, evalBatches: 0})
    const from = loadCheckpoint(grown)
    const config = (steps: number) =>
      resolveRunConfig({model: {...from.meta.model}, train: {steps, batch: 4, seq: 16, lr: 0.003, warmup: 1, eval_every: 0, eval_batches: 2, save_every: 0, seed: 7}})

    // Three updates: masks at 3/4, still in the config; export refuses.
    const three = path.join(tmpDir(), 'three')
    await train({config: config(3), dataDir: data, outDir: three, from})
    const ck3 = loadCheckpoint(path.join(three, 'checkpoint'))
    expect(msgOf(ck3.meta.model)?.step).toBe(3)
    expect(() => writeHfDir(path.join(tmpDir(), 'hf'), {config: ck3.meta.model, weights: ck3.weights, tokenizer: ck3.meta.tokenizer}))
      .toThrow(/grown by MSG and its masks are still ramping \(3 of 4 steps: m = 0\.750\).*1 more steps/)

    // Six updates straight through: the masks reach 1 at update 4 and the field is gone.
    const straight = path.join(tmpDir(), 'straight')
    await train({config: config(6), dataDir: data, outDir: straight, from})
    const done = loadCheckpoint(path.join(straight, 'checkpoint'))
    expect(msgOf(done.meta.model)).toBeUndefined()
    expect(() => writeHfDir(path.join(tmpDir(), 'hf-done'), {config: done.meta.model, weights: done.weights, tokenizer: done.meta.tokenizer})).not.toThrow()

    // The same six, stopped after update 2 and resumed: the same losses and the same bytes.
    const stopped = path.join(tmpDir(), 'stopped')
    const stop = new AbortController()
    const r1 = await train({config: config(6), dataDir: data, outDir: stopped, from, signal: stop.signal, onEvent: (e) => e.kind === 'step' && e.row.step === 2 && stop.abort()})
    expect(r1.interrupted).toBe(true)
    expect(msgOf(loadCheckpoint(path.join(stopped, 'checkpoint')).meta.model)?.step).toBe(2)
    await train({config: config(6), dataDir: data, outDir: stopped, resume: true})
    const resumed = loadCheckpoint(path.join(stopped, 'checkpoint'))
    expect(msgOf(resumed.meta.model)).toBeUndefined()
    expect(runMetrics(stopped).map((m) => m.loss)).toEqual(runMetrics(straight).map((m) => m.loss))
    for (const [name, w] of done.weights) expect(Buffer.from(resumed.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true)
    // The first update ran at m = 0: its loss is the source's on that batch (the grown parts contribute nothing).
    const sampler = new BatchSampler(loadDataDir(data).train, {batch: 4, seq: 16, seed: 7})
    const b = sampler.sample(0, 0)
    const sourceLoss = lossOnly(src.meta.model, src.schema, src.weights, {inputs: b.inputs, targets: b.targets, batch: 4, seq: 16})
    expect(Math.abs(runMetrics(straight)[0].loss - sourceLoss)).toBeLessThan(1e-5)
  })

  it('`ligo grow --method msg` says where the ramp happens; flags of other methods are refused', () => {
    const src = randomSource({vocab_size: 256}, 7).dir
    const r = ligo(['grow', src, '--width', '32', '--method', 'msg', '--grow-steps', '40', '--eval-batches', '0', '-o', path.join(tmpDir(), 'm')])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('`ligo train` ramps the masks to 1 over its first 40 updates')
    expect(ligo(['grow', src, '--width', '32', '--method', 'net2net', '--grow-steps', '40', '-o', path.join(tmpDir(), 'n')]).stderr).toContain('--grow-steps is the ramp of --method msg')
    expect(ligo(['grow', src, '--width', '32', '--method', 'msg', '--clone-variant', 'diagonal', '-o', path.join(tmpDir(), 'c')]).code).toBe(2)
  })
})
