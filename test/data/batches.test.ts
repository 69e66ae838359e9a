import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {BatchSampler, evalBatches, evalPlan} from '../../src/data/batches.js'
import {openTokenFile, type TokenFile, writeTokenFile} from '../../src/data/tokens.js'

let dir: string
/** Token i is i, so a window's content reveals where it starts. */
let ramp: TokenFile
const N = 5000

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-batches-'))
  await writeTokenFile(path.join(dir, 'ramp.bin'), Int32Array.from({length: N}, (_, i) => i), N)
  ramp = openTokenFile(path.join(dir, 'ramp.bin'))
})
afterAll(() => {
  ramp.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('BatchSampler', () => {
  it('yields [B, T] windows in range with targets shifted by one', () => {
    const s = new BatchSampler(ramp, {batch: 8, seq: 16, seed: 3})
    expect(s.starts).toBe(N - 16)
    let bad = 0
    let maxStart = 0
    for (let step = 0; step < 200; step++) {
      const {inputs, targets, batch, seq} = s.sample(step)
      expect([batch, seq, inputs.length, targets.length]).toEqual([8, 16, 128, 128])
      for (let b = 0; b < 8; b++) {
        const start = inputs[b * 16]
        if (start !== s.windowStart(step, 0, b)) bad++
        if (start < 0 || start + 16 >= N) bad++ // the last target, start + 16, must exist
        maxStart = Math.max(maxStart, start)
        for (let j = 0; j < 16; j++) {
          if (inputs[b * 16 + j] !== start + j || targets[b * 16 + j] !== start + j + 1) bad++
        }
      }
    }
    expect(bad).toBe(0)
    expect(maxStart).toBeGreaterThan(N * 0.9) // draws reach the end of the file
  })

  it('is a pure function of (seed, step, micro): a resumed run sees the same data', () => {
    const a = new BatchSampler(ramp, {batch: 4, seq: 8, seed: 42})
    const seen = Array.from({length: 10}, (_, step) => [a.sample(step, 0), a.sample(step, 1)])
    const reopened = openTokenFile(path.join(dir, 'ramp.bin'))
    const resumed = new BatchSampler(reopened, {batch: 4, seq: 8, seed: 42})
    for (const step of [7, 3, 9]) {
      expect(resumed.sample(step, 1)).toEqual(seen[step][1])
      expect(resumed.sample(step, 0)).toEqual(seen[step][0])
    }
    reopened.close()
    expect(seen[0][0].inputs).not.toEqual(seen[0][1].inputs) // micro-steps differ
    expect(seen[0][0].inputs).not.toEqual(seen[1][0].inputs) // steps differ
    const other = new BatchSampler(ramp, {batch: 4, seq: 8, seed: 43})
    expect(other.sample(0).inputs).not.toEqual(seen[0][0].inputs)
    // Row r of a larger batch is the same window as row r of a smaller one.
    const wide = new BatchSampler(ramp, {batch: 6, seq: 8, seed: 42})
    expect(wide.sample(5).inputs.subarray(0, 32)).toEqual(seen[5][0].inputs)
  })

  it('pins the window starts for a fixed seed', () => {
    const s = new BatchSampler(ramp, {batch: 4, seq: 16, seed: 1337})
    expect([0, 1, 2, 3].map((r) => s.windowStart(0, 0, r))).toEqual(PINNED_STARTS)
  })

  it('validates its options', () => {
    expect(() => new BatchSampler(ramp, {batch: 0, seq: 8, seed: 1})).toThrow(InputError)
    expect(() => new BatchSampler(ramp, {batch: 1, seq: 8.5, seed: 1})).toThrow(/seq is 8.5/)
    expect(() => new BatchSampler(ramp, {batch: 1, seq: N, seed: 1})).toThrow(/too few for one window/)
    expect(() => new BatchSampler(ramp, {batch: 1, seq: N - 1, seed: 1}).sample(0)).not.toThrow()
    expect(() => new BatchSampler(ramp, {batch: 1, seq: 4, seed: 1}).sample(-1)).toThrow(/step is -1/)
  })
})

describe('evalBatches', () => {
  const targetsOf = (batches: Iterable<{targets: Int32Array}>) => Array.from(batches).flatMap((b) => Array.from(b.targets))

  it('covers the split front to back with non-overlapping windows', () => {
    // N = 5000 tokens, seq 10: (5000 − 1) / 10 → 499 windows, targets 1..4990; batch 4 → 125 batches, the last with 3 rows.
    const plan = evalPlan(N, {batch: 4, seq: 10})
    expect(plan).toEqual({windows: 499, batches: 125, tokens: 4990})
    const batches = Array.from(evalBatches(ramp, {batch: 4, seq: 10}))
    expect(batches.length).toBe(125)
    expect(batches.at(-1)!.batch).toBe(3)
    expect(batches.at(-1)!.inputs.length).toBe(30)
    const targets = targetsOf(batches)
    expect(targets).toEqual(Array.from({length: 4990}, (_, i) => i + 1))
    const inputs = batches.flatMap((b) => Array.from(b.inputs))
    expect(inputs).toEqual(Array.from({length: 4990}, (_, i) => i))
    // Deterministic: a second pass is identical.
    expect(targetsOf(evalBatches(ramp, {batch: 4, seq: 10}))).toEqual(targets)
  })

  it('covers every target when (length − 1) is a multiple of seq', async () => {
    const f = path.join(dir, 'exact.bin')
    await writeTokenFile(f, Array.from({length: 33}, (_, i) => i), 64)
    const tf = openTokenFile(f)
    expect(targetsOf(evalBatches(tf, {batch: 2, seq: 8}))).toEqual(Array.from({length: 32}, (_, i) => i + 1))
    expect(() => Array.from(evalBatches(tf, {batch: 2, seq: 32}))).not.toThrow()
    expect(() => Array.from(evalBatches(tf, {batch: 2, seq: 33}))).toThrow(/too few for one evaluation window/)
    tf.close()
  })

  it('stops after maxBatches · batch windows', () => {
    const batches = Array.from(evalBatches(ramp, {batch: 4, seq: 10, maxBatches: 3}))
    expect(batches.length).toBe(3)
    expect(targetsOf(batches)).toEqual(Array.from({length: 120}, (_, i) => i + 1))
    expect(evalPlan(N, {batch: 4, seq: 10, maxBatches: 1000}).windows).toBe(499)
    expect(() => evalPlan(N, {batch: 4, seq: 10, maxBatches: 0})).toThrow(InputError)
  })
})

const PINNED_STARTS = [3337, 4085, 4816, 4429]
