/**
 * The `ligo mup` commands and `train --param`, run as a user runs them (bin/run.js over dist/; `npm run build`
 * first), on tiny models and the cpu backend.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {json, ligo} from '../cli/run.js'
import {smallBrown, tmpDir} from '../helpers.js'

let dir: string
let data: string
beforeAll(async () => {
  if (!fs.existsSync('dist/commands/mup/table.js')) throw new Error('dist/ is missing the mup commands: run `npm run build` first')
  dir = tmpDir('ligo-mup-cli-')
  data = await smallBrown()
})

describe('ligo mup', () => {
  it('has --help with examples for every mup command', () => {
    for (const cmd of ['coord-check', 'sweep', 'table']) {
      const r = ligo(['mup', cmd, '--help'])
      expect(r.code, cmd).toBe(0)
      expect(r.stdout, cmd).toMatch(/EXAMPLES/)
    }
  })

  it('trains with --param mup and shows the checkpoint’s per-tensor factors', () => {
    const cfg = path.join(dir, 'wide.yaml')
    fs.writeFileSync(cfg, 'model:\n  n_layer: 1\n  d_model: 32\n  n_head: 4\n  base_d_model: 8\n  base_n_head: 1\n  base_d_ffn: 32\n')
    const run = path.join(dir, 'run')
    const t = json(['train', '--config', cfg, '--param', 'mup', '--data', data, '-o', run, '--steps', '2', '--seq', '16', '--batch', '2', '--eval-every', '0', '--backend', 'cpu'])
    expect(t.step).toBe(2)
    const table = json(['mup', 'table', run])
    expect(table).toMatchObject({param: 'mup', optimizer: 'adamw', width_mult: {resid: 4, attn: 4, ffn: 4, head: 1}, forward: {input: 1, readout: 0.25}})
    const fc = table.rows.find((r: {name: string}) => r.name === 'h.0.mlp.c_fc.weight')
    expect(fc).toMatchObject({role: 'hidden', fan_in_mult: 4, lr_mult: 0.25, wd_mult: 4, init_std: 0.01})
    expect(table.rows.find((r: {name: string}) => r.name === 'wte.weight')).toMatchObject({lr_mult: 1, init_std: 0.02})
    const text = ligo(['mup', 'table', run]).stdout
    expect(text).toMatch(/µP.*factors for adamw/)
    expect(text).toMatch(/\*\.mlp\.c_fc\.weight\s+hidden/)
  })

  it('runs a coordinate check and writes the rows and one chart per parametrization', () => {
    const out = path.join(dir, 'coord')
    const r = json(['mup', 'coord-check', '--data', data, '-o', out, '--widths', '16,32', '--head-size', '8', '--steps', '1', '--layers', '1', '--batch', '2', '--seq', '8', '--backend', 'cpu'])
    expect(r.rows.length).toBe(2 * 2 * 2 * 4) // params × widths × (steps + 1) × probes
    for (const f of ['coord.json', 'coord-sp.svg', 'coord-sp.png', 'coord-mup.svg', 'coord-mup.png']) expect(fs.existsSync(path.join(out, f)), f).toBe(true)
    expect(fs.readFileSync(path.join(out, 'coord-mup.png')).subarray(0, 4).toString('latin1')).toBe('\x89PNG')
    const again = ligo(['mup', 'coord-check', '--data', data, '-o', out, '--widths', '16', '--head-size', '8'])
    expect(again.code).toBe(2) // a non-empty output directory needs --force
  })

  it('runs a tiny LR sweep and reports the best LR per width', () => {
    const out = path.join(dir, 'sweep')
    const r = json(['mup', 'sweep', '--data', data, '-o', out, '--widths', '16,32', '--head-size', '8', '--lrs=-8,-6', '--param', 'mup', '--steps', '2', '--warmup', '0', '--layers', '1', '--batch', '2', '--seq', '8', '--eval-batches', '1', '--backend', 'cpu'])
    expect(r.rows).toHaveLength(4)
    expect(r.best.map((b: {width: number}) => b.width).sort()).toEqual([16, 32])
    for (const f of ['sweep.json', 'sweep.svg', 'sweep.png']) expect(fs.existsSync(path.join(out, f)), f).toBe(true)
  })

  it('rejects widths that are not multiples of the head size, with exit code 2', () => {
    const r = ligo(['mup', 'coord-check', '--data', data, '-o', path.join(dir, 'bad'), '--widths', '16,20', '--head-size', '8', '--backend', 'cpu'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/width 20 is not a multiple of the head size 8/)
  })
})
