/**
 * `--optimizer` on a preset selects that optimizer's published defaults for the settings the user did not give
 * (issue #31: `--config gpt-tiny --optimizer came` kept the preset's AdamW β2 0.95, Adafactor its β1 0.9, a first
 * moment of 4 bytes/parameter), while settings of the user's own file are kept; run.json records what was used
 * and `ligo train` prints it.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {PRESET_DIR, isPreset} from '../../src/cli/config-flags.js'
import {readSafetensorsHeader} from '../../src/checkpoints/safetensors.js'
import {describeOptimizer, optimizerUsed, readConfigFile, resolveRunConfig} from '../../src/train/config.js'
import {ligo} from '../cli/run.js'
import {smallBrown, tmpDir} from '../helpers.js'

const preset = path.join(PRESET_DIR, 'gpt-tiny.yaml')

describe('--optimizer on a preset', () => {
  const raw = readConfigFile(preset)
  it('takes the named optimizer\'s published defaults in place of the preset\'s AdamW settings', () => {
    const came = resolveRunConfig(raw, {optimizer: 'came'}, preset, {presetOptimizerSettings: true}).train
    expect(came).toMatchObject({optimizer: 'came', beta1: 0.9, beta2: 0.999, beta3: 0.9999, eps: 1e-30, eps2: 1e-16, clip_threshold: 1})
    const af = resolveRunConfig(raw, {optimizer: 'adafactor'}, preset, {presetOptimizerSettings: true}).train
    expect(af).toMatchObject({optimizer: 'adafactor', beta1: 0, beta2: 1, eps: 1e-30, decay_rate: -0.8, scale_parameter: false})
    // the rest of the preset stays: lr, weight decay, schedule
    expect(af).toMatchObject({lr: 0.003, weight_decay: 0.1, schedule: 'cosine', warmup: 100})
    // the preset's own optimizer keeps the preset's settings
    expect(resolveRunConfig(raw, {optimizer: 'adamw'}, preset, {presetOptimizerSettings: true}).train).toMatchObject({beta2: 0.95})
  })

  it('keeps settings given in the user\'s own file', () => {
    const mine = resolveRunConfig({train: {beta2: 0.98}}, {optimizer: 'came'}, 'mine.yaml').train
    expect(mine).toMatchObject({optimizer: 'came', beta2: 0.98, beta3: 0.9999})
    expect(resolveRunConfig(raw, {optimizer: 'came'}, 'copy.yaml').train).toMatchObject({beta2: 0.95}) // a copy is the user's
  })

  it('knows a preset by its directory, under any name it is given', () => {
    expect(isPreset(preset)).toBe(true)
    expect(isPreset(path.relative(process.cwd(), preset))).toBe(true)
    const copy = path.join(tmpDir(), 'gpt-tiny.yaml')
    fs.copyFileSync(preset, copy)
    expect(isPreset(copy)).toBe(false)
    expect(isPreset('no/such/file.yaml')).toBe(false)
  })

  it('describes what is used, naming the settings that are not the published defaults', () => {
    const af = resolveRunConfig(raw, {optimizer: 'adafactor'}, preset, {presetOptimizerSettings: true}).train
    expect(describeOptimizer(af)).toBe('optimizer adafactor: beta1 0, beta2 1, eps 1e-30, eps2 0.001, clip_threshold 1, decay_rate -0.8, scale_parameter false (its published defaults); weight_decay 0.1')
    const came = resolveRunConfig(raw, {optimizer: 'came'}, 'copy.yaml').train
    expect(optimizerUsed(came).not_default).toEqual(['beta2'])
    expect(describeOptimizer(came)).toContain('beta2 0.95 (published default 0.999)')
  })
})

describe('ligo train --config PRESET --optimizer', () => {
  it('trains with the published defaults, prints them and records them in run.json; Adafactor keeps no first moment', async () => {
    const data = await smallBrown()
    const out = path.join(tmpDir(), 'run')
    const tiny = ['--layers', '1', '--d-model', '16', '--heads', '2', '--ffn', '32', '--seq', '16', '--batch', '2', '--steps', '2', '--eval-every', '0', '--backend', 'cpu']
    const r = ligo(['train', '--config', 'gpt-tiny', '--optimizer', 'adafactor', '-d', data, '-o', out, ...tiny])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr.replace(/\s+/g, ' ')).toContain('optimizer adafactor: beta1 0, beta2 1, eps 1e-30')
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'))
    expect(run.optimizer).toEqual({name: 'adafactor', settings: {beta1: 0, beta2: 1, eps: 1e-30, eps2: 0.001, clip_threshold: 1, decay_rate: -0.8, scale_parameter: false}, not_default: []})
    expect(run.config.train).toMatchObject({optimizer: 'adafactor', beta1: 0, beta2: 1})
    const state = [...readSafetensorsHeader(path.join(out, 'checkpoint', 'optimizer.safetensors')).entries.keys()]
    expect(state.some((k) => k.startsWith('m.'))).toBe(false) // β1 0: factored second moments only
  })
})
