import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {fmt} from '../../src/cli/base.js'
import {trainOnlyBlocks} from '../../src/ligo/expansion.js'
import {grow} from '../../src/ligo/grow.js'
import {numel} from '../../src/model/schema.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {ligo} from '../cli/run.js'
import {smallBrown, tmpDir, trainedSource, useCpu} from '../helpers.js'

let data: string
let source: string
beforeAll(async () => {
  await useCpu()
  data = await smallBrown()
  source = await trainedSource(data, {steps: 20, batch: 8, lr: 0.01})
})

const newBlocks = (dir: string) => (loadCheckpoint(dir).meta.provenance as {growth: {new_blocks?: number[]}}).growth.new_blocks

describe('LLaMA-Pro block expansion (--train-only new)', () => {
  it('records the blocks each growth inserted', async () => {
    const expected: Record<string, number[] | undefined> = {
      net2net: [1, 3], zero: [1, 3], hypercloning: [1, 3], // identity blocks interleaved after their source (LLaMA-Pro's layout)
      stack: [2, 3], interleave: [1, 3], msg: [2, 3], random: undefined,
    }
    for (const [method, blocks] of Object.entries(expected)) {
      const out = path.join(tmpDir(), method)
      await grow({source: loadCheckpoint(source), target: {depth: 4}, method: method as 'net2net', out, evalBatches: 0})
      expect(newBlocks(out), method).toEqual(blocks)
    }
    const out = path.join(tmpDir(), 'ligo')
    await grow({source: loadCheckpoint(source), target: {width: 32, depth: 4}, method: 'ligo', out, dataDir: data, ligo: {steps: 2, warmup: 0, batch: 2, seq: 16}, evalBatches: 0})
    expect(newBlocks(out)).toEqual([2, 3]) // the stacking depth init: blocks 2, 3 repeat blocks 0, 1
  })

  it('trains only the inserted blocks: every other tensor keeps its bytes, and the trainable count is theirs', async () => {
    const grown = path.join(tmpDir(), 'net2net')
    await grow({source: loadCheckpoint(source), target: {width: 32, depth: 4}, method: 'net2net', out: grown, evalBatches: 0})
    const from = loadCheckpoint(grown)
    const blocks = trainOnlyBlocks('new', from)!
    expect(blocks).toEqual([1, 3])
    const config = resolveRunConfig({model: {...from.meta.model}, train: {steps: 5, batch: 4, seq: 16, lr: 0.01, warmup: 1, weight_decay: 0.1, eval_every: 0, eval_batches: 2, save_every: 0, seed: 3, train_blocks: blocks}})
    const run = path.join(tmpDir(), 'run')
    const r = await train({config, dataDir: data, outDir: run, from})
    const after = loadCheckpoint(path.join(run, 'checkpoint'), {optimizer: true})
    let trainable = 0
    for (const p of from.schema) {
      const before = Buffer.from(from.weights.get(p.name)!.buffer)
      const now = Buffer.from(after.weights.get(p.name)!.buffer)
      if (p.layer !== null && blocks.includes(p.layer)) {
        trainable += numel(p.shape)
        // Inserted blocks train (their zero output projections too: the identity blocks start learning).
        expect(now.equals(before), p.name).toBe(false)
      } else {
        expect(now.equals(before), `${p.name} is frozen`).toBe(true)
      }
    }
    expect(r.trainable_params).toBe(trainable)
    expect(after.meta.train?.train_blocks).toEqual([1, 3])
    // The optimizer holds the trainable tensors only, so a resumed run freezes the same ones.
    expect([...after.optimizer!.keys()].filter((k) => k !== 'step').every((k) => /^\w+\.h\.[13]\./.test(k))).toBe(true)
  })

  it('`ligo train --train-only new` reports the trainable count; checkpoints without inserted blocks are refused', async () => {
    const grown = path.join(tmpDir(), 'zero')
    await grow({source: loadCheckpoint(source), target: {depth: 3}, method: 'zero', out: grown, evalBatches: 0})
    const r = ligo(['train', grown, '--data', data, '--steps', '2', '--warmup', '0', '--train-only', 'new', '-o', path.join(tmpDir(), 'cli')])
    expect(r.code, r.stderr).toBe(0)
    const blockParams = loadCheckpoint(grown).schema.filter((p) => p.layer === 1).reduce((n, p) => n + numel(p.shape), 0)
    expect(r.stderr).toContain(`training ${fmt(blockParams)} of ${fmt(loadCheckpoint(grown).schema.reduce((n, p) => n + numel(p.shape), 0))} parameters (blocks 1; the rest frozen)`)
    const wide = path.join(tmpDir(), 'wide')
    await grow({source: loadCheckpoint(source), target: {width: 32}, method: 'net2net', out: wide, evalBatches: 0})
    expect(() => trainOnlyBlocks('new', loadCheckpoint(wide))).toThrow(/inserted no blocks \(it grew the width only\)/)
    expect(() => trainOnlyBlocks('new', loadCheckpoint(source))).toThrow(/no growth record/)
    expect(() => trainOnlyBlocks('new', undefined)).toThrow(/give the grown checkpoint/)
  })
})
