/** `ligo grow` as a user runs it at a width that is not a multiple of the source's (built CLI over dist/). */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {tmpDir} from '../helpers.js'
import {seededSource} from '../ligo/fixtures.js'
import {json, ligo} from './run.js'

describe('ligo grow', () => {
  it('says whether the grown model keeps the function, in the human output and in --json', () => {
    const dir = tmpDir('ligo-cli-grow-')
    const gpt2 = path.join(dir, 'gpt2')
    seededSource({vocab_size: 40, n_positions: 8, n_layer: 1, d_model: 12, n_head: 3}, 3, gpt2)
    const r = ligo(['grow', gpt2, '--width', '16', '--depth', '2', '--method', 'net2net', '-o', path.join(dir, 'g1')])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/function preserving \(exact by construction\): width 12 → 16 by LEMON's average expansion/)
    expect(r.stderr).not.toMatch(/writing|reading/) // I/O progress stays quiet when piped
    const bert = path.join(dir, 'bert')
    seededSource({family: 'bert', vocab_size: 40, n_positions: 8, n_layer: 1, d_model: 12, n_head: 3}, 3, bert)
    const h = ligo(['grow', bert, '--width', '16', '--method', 'zero', '-o', path.join(dir, 'g2')])
    expect(h.code, h.stderr).toBe(0)
    expect(h.stderr).toMatch(/BERT is post-LayerNorm/)
    expect(h.stdout).toMatch(/not function preserving: max \|logit difference\| \d\.\d\de[-+]\d+ at step 0/)
    const j = json(['grow', bert, '--width', '16', '--method', 'zero', '-o', path.join(dir, 'g3')])
    expect(j.function_check).toMatchObject({exact: false, tokens: 32})
    expect(j.function_check.max_abs_logit_diff).toBeGreaterThan(0)
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'g3', 'config.json'), 'utf8')).provenance.growth.function_check).toEqual(j.function_check)
  })
})
