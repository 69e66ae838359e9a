/**
 * `ligo bench` end to end through the built CLI (bin/run.js over dist/; `npm run build` first): a tiny shape,
 * checked for the documented --json shape and positive numbers. No timing assertions.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {tmpDir} from '../helpers.js'
import {ligo} from './run.js'

beforeAll(() => {
  if (!fs.existsSync('dist/commands/bench.js')) throw new Error('dist/ is missing: run `npm run build` before the CLI tests')
})

describe('ligo bench', () => {
  it('measures a tiny shape and returns the documented --json report', () => {
    const cwd = tmpDir('ligo-bench-')
    const r = ligo(['bench', '--layers', '1', '--d-model', '32', '--heads', '2', '--seq', '16', '--batch', '2', '--steps', '2', '--json'], {cwd})
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const out = JSON.parse(r.stdout)

    expect(out.presets).toHaveLength(1)
    const p = out.presets[0]
    expect(p).toMatchObject({layers: 1, d_model: 32, heads: 2, seq: 16, batch: 2, vocab: 256, steps: 2})
    expect(typeof p.name).toBe('string')
    expect(typeof p.backend).toBe('string')
    for (const k of ['params', 'tokens_per_s', 'ms_per_step', 'gflops', 'gflops_peer_convention', 'flops_per_token',
      'flops_per_token_peer_convention', 'peak_rss_mib']) {
      expect(p[k], k).toBeGreaterThan(0)
    }
    // Tied head: wte + wpe + one block (2 LNs, q/k/v/c_proj with biases, 32→128→32 MLP with biases) + ln_f.
    const block = 2 * 2 * 32 + 4 * (32 * 32 + 32) + (32 * 128 + 128) + (128 * 32 + 32)
    expect(p.params).toBe(256 * 32 + 16 * 32 + block + 2 * 32)
    expect(p.tokens_per_s).toBeCloseTo((2 * 16) / (p.ms_per_step / 1000), 6)
    expect(p.ms_per_step_all).toHaveLength(2)
    expect(Number.isFinite(p.loss)).toBe(true)
    // Ceiling percentages are numbers when the ceiling was measured, null when it could not be.
    for (const k of ['pct_of_native_gemm_ceiling', 'pct_of_numpy_ceiling']) {
      expect(p[k] === null || p[k] > 0, k).toBe(true)
    }
    expect(p.peer).toBeUndefined()

    expect(out.ceiling.n).toBe(1024)
    if (p.backend === 'native') expect(out.ceiling.native_gemm_gflops).toBeGreaterThan(0)
    expect(out.machine.cores).toBeGreaterThan(0)
    expect(typeof out.machine.cpu).toBe('string')
    expect(out.machine.node).toBe(process.version)
    expect(Number.isNaN(Date.parse(out.machine.date))).toBe(false)

    // The same report lands in .bench/bench-<date>.json under the working directory.
    const files = fs.readdirSync(path.join(cwd, '.bench')).filter((f) => /^bench-.*\.json$/.test(f))
    expect(files).toHaveLength(1)
    expect(JSON.parse(fs.readFileSync(path.join(cwd, '.bench', files[0]), 'utf8')).presets[0].tokens_per_s).toBe(p.tokens_per_s)
  })

  it('times a LiGO operator step beside the training step (--ligo-from), both over --accum micro-batches', () => {
    const cwd = tmpDir('ligo-bench-')
    const r = ligo(['bench', '--layers', '2', '--d-model', '32', '--heads', '2', '--seq', '16', '--batch', '2', '--accum', '2', '--steps', '1',
      '--warmup', '0', '--ligo-from', '1x16x1', '--json'], {cwd})
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const p = JSON.parse(r.stdout).presets[0]
    expect(p).toMatchObject({layers: 2, d_model: 32, batch: 2, accum: 2, seq: 16})
    expect(p.tokens_per_s).toBeCloseTo((2 * 2 * 16) / (p.ms_per_step / 1000), 6)
    const o = p.ligo
    expect(o.from).toEqual({layers: 1, d_model: 16, heads: 1})
    expect(['native', 'tfjs']).toContain(o.engine)
    // Learnable: resid M 16×16, per grown block q/k/v M 16×16 each and FFN M 64×64, 16 depth vectors of L1 = 1.
    expect(o.operator_params).toBe(16 * 16 + 2 * (3 * 16 * 16 + 64 * 64) + 2 * 16)
    for (const k of ['ms_per_step', 'tokens_per_s', 'peak_rss_mib', 'materialize_flops']) expect(o[k], k).toBeGreaterThan(0)
    expect(o.tokens_per_s).toBeCloseTo((2 * 2 * 16) / (o.ms_per_step / 1000), 6)
    expect(o.time_ratio_to_train_step).toBeCloseTo(o.ms_per_step / p.ms_per_step, 9)
    expect(o.time_ratio_same_step).toBeCloseTo(o.ms_per_step / (o.breakdown_ms.model + p.breakdown_ms.clip + p.breakdown_ms.adamw), 9)
    for (const k of ['materialize', 'model', 'backward', 'update']) expect(o.breakdown_ms[k], k).toBeGreaterThanOrEqual(0)
    expect(Number.isFinite(o.loss)).toBe(true)
  })

  it('refuses a --ligo-from that is neither a preset nor LAYERSxWIDTHxHEADS', () => {
    const r = ligo(['bench', '--ligo-from', '12x768', '--json'], {cwd: tmpDir('ligo-bench-')})
    expect(r.code).toBe(2)
    expect(r.stdout + r.stderr).toMatch(/--ligo-from 12x768: expected a preset .* or LAYERSxWIDTHxHEADS/)
  })

  it('rejects heads that do not divide the width', () => {
    const r = ligo(['bench', '--d-model', '30', '--heads', '4', '--json'], {cwd: tmpDir('ligo-bench-')})
    expect(r.code).toBe(2)
    expect(r.stdout + r.stderr).toMatch(/--heads 4 must divide --d-model 30/)
  })
})
