import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {train} from '../../src/train/trainer.js'
import {runMetrics, smallBrown, tinyRun, tmpDir, useCpu} from '../helpers.js'

let data: string
beforeAll(async () => {
  await useCpu()
  data = await smallBrown()
})

describe('train', () => {
  it('lowers the loss on real text and logs every step', async () => {
    const out = path.join(tmpDir(), 'run')
    const r = await train({config: tinyRun({steps: 40, eval_every: 20, batch: 8}), dataDir: data, outDir: out})
    const rows = runMetrics(out)
    expect(rows.map((m) => m.step)).toEqual(Array.from({length: 40}, (_, i) => i + 1))
    const first = rows.slice(0, 5).reduce((a, m) => a + m.loss, 0) / 5
    const last = rows.slice(-5).reduce((a, m) => a + m.loss, 0) / 5
    expect(first).toBeGreaterThan(5)
    expect(last).toBeLessThan(first - 1.2)
    expect(rows[19].val_loss).toBeGreaterThan(rows[39].val_loss!)
    expect(r.val!.loss).toBeCloseTo(rows[39].val_loss!, 6)
    expect(rows[39].tokens).toBe(40 * 8 * 16)
    expect(rows[39].flops).toBeGreaterThan(0)
    const ck = loadCheckpoint(out)
    expect(ck.trainer).toMatchObject({step: 40, tokens: 40 * 8 * 16, optimizer: 'adamw'})
  })

  it('resumes bit-for-bit: 3 steps + 3 resumed steps equal 6 uninterrupted steps', async () => {
    const base = tmpDir()
    const full = path.join(base, 'full')
    const split = path.join(base, 'split')
    await train({config: tinyRun({steps: 6, save_every: 2}), dataDir: data, outDir: full})
    await train({config: tinyRun({steps: 3, save_every: 2}), dataDir: data, outDir: split})
    await train({config: tinyRun({steps: 6}), dataDir: data, outDir: split, resume: true})
    const a = loadCheckpoint(full, {optimizer: true})
    const b = loadCheckpoint(split, {optimizer: true})
    for (const [name, w] of a.weights) expect(Buffer.from(b.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true)
    for (const [name, m] of a.optimizer!) expect(b.optimizer!.get(name), name).toEqual(m)
    expect(runMetrics(split).map((m) => m.loss)).toEqual(runMetrics(full).map((m) => m.loss))
  })

  it('stops on abort after saving a checkpoint, and refuses to overwrite without force', async () => {
    const out = path.join(tmpDir(), 'run')
    const stop = new AbortController()
    const r = await train({
      config: tinyRun({steps: 50}),
      dataDir: data,
      outDir: out,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind === 'step' && e.row.step === 4) stop.abort()
      },
    })
    expect(r.interrupted).toBe(true)
    expect(r.step).toBe(4)
    expect(loadCheckpoint(out).trainer!.step).toBe(4)
    await expect(train({config: tinyRun(), dataDir: data, outDir: out})).rejects.toThrow(/already exists.*--force/)
  })

  it('refuses to resume on other data or without a checkpoint', async () => {
    const out = path.join(tmpDir(), 'run')
    await expect(train({config: tinyRun(), dataDir: data, outDir: out, resume: true})).rejects.toThrow(/no checkpoint to resume/)
  })
})
