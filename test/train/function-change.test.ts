/**
 * Switching a checkpoint to reversible blocks or LSH attention changes the function its weights compute (issue #31:
 * val loss 2.977 → 3.019 without a word): `ligo train CKPT --reversible|--attention lsh` warns; exact rewrites (chunked
 * FFN and loss) do not.
 */
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {functionChanges, modelConfig} from '../../src/model/index.js'
import {train} from '../../src/train/trainer.js'
import {ligo} from '../cli/run.js'
import {TINY_MODEL, smallBrown, tinyRun, tmpDir} from '../helpers.js'

describe('functionChanges', () => {
  const base = modelConfig(TINY_MODEL)
  it('lists the settings that change what the same weights compute', () => {
    expect(functionChanges(base, modelConfig({...TINY_MODEL, reversible: true}))).toEqual(['reversible false → true'])
    expect(functionChanges(base, modelConfig({...TINY_MODEL, attention: 'lsh'}))).toEqual(['attention "full" → "lsh"'])
    expect(functionChanges(modelConfig({...TINY_MODEL, attention: 'lsh'}), modelConfig({...TINY_MODEL, attention: 'lsh', lsh_hashes: 4}))).toEqual(['lsh_hashes 2 → 4'])
  })
  it('leaves out exact rewrites, and LSH settings while LSH is off', () => {
    expect(functionChanges(base, modelConfig({...TINY_MODEL, ffn_chunks: 2, loss_chunks: 4}))).toEqual([])
    expect(functionChanges(base, modelConfig({...TINY_MODEL, lsh_buckets: 8}))).toEqual([])
    expect(functionChanges(base, base)).toEqual([])
  })
})

describe('ligo train CKPT', () => {
  it('warns when --reversible or --attention lsh change the checkpoint\'s function, not for --ffn-chunks', async () => {
    const data = await smallBrown()
    const src = path.join(tmpDir(), 'src')
    await train({config: tinyRun({steps: 2}), dataDir: data, outDir: src})
    const run = (extra: string[]) => ligo(['train', src, '-d', data, '-o', path.join(tmpDir(), 'o'), '--steps', '1', '--backend', 'cpu', ...extra])
    const lsh = run(['--attention', 'lsh', '--reversible'])
    expect(lsh.code, lsh.stderr).toBe(0)
    expect(lsh.stderr.replace(/\s+(›\s+)?/g, ' ')).toMatch(/Warning: .*src was trained as another function: reversible false → true, attention "full" → "lsh" change what its weights compute/)
    const exact = run(['--ffn-chunks', '2'])
    expect(exact.code, exact.stderr).toBe(0)
    expect(exact.stderr).not.toMatch(/another function/)
  })
})
