import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ConfigError, InputError} from '../../src/errors.js'
import {readConfigFile, resolveRunConfig} from '../../src/train/config.js'
import {tmpDir} from '../helpers.js'

describe('run config', () => {
  it('applies defaults < file < overrides, recomputing head size and FFN width on a width override', () => {
    const c = resolveRunConfig({model: {d_model: 64, n_head: 4}, train: {steps: 10, lr: 0.01}}, {lr: 0.002, 'd-model': 128, layers: 3})
    expect(c.train).toMatchObject({steps: 10, lr: 0.002, batch: 16, seq: 128})
    expect(c.model).toMatchObject({d_model: 128, n_head: 4, head_size: 32, d_ffn: 512, n_layer: 3, n_positions: 128})
  })

  it('rejects unknown keys, bad values and impossible sizes, naming the key', () => {
    expect(() => resolveRunConfig({model: {}, trian: {}})).toThrow(/'trian'.*no such key/)
    expect(() => resolveRunConfig({train: {stepz: 3}})).toThrow(/'train\.stepz'.*no such key.*steps/)
    expect(() => resolveRunConfig({train: {lr: -1}})).toThrow(/'train\.lr' has value -1: expected a finite number/)
    expect(() => resolveRunConfig({train: {schedule: 'exp'}})).toThrow(/train\.schedule.*cosine, linear, constant/)
    expect(() => resolveRunConfig({model: {n_positions: 64}, train: {seq: 128}})).toThrow(ConfigError)
    expect(() => resolveRunConfig({model: {n_positions: 64}, train: {seq: 128}})).toThrow(/train\.seq.*at most model\.n_positions \(64\)/)
  })

  it('reads YAML files and reports syntax errors and duplicate keys with the file name', () => {
    const dir = tmpDir()
    const good = path.join(dir, 'good.yaml')
    fs.writeFileSync(good, 'model:\n  n_layer: 2\ntrain:\n  steps: 5\n')
    expect(resolveRunConfig(readConfigFile(good), {}, good).model.n_layer).toBe(2)
    const bad = path.join(dir, 'bad.yaml')
    fs.writeFileSync(bad, 'model:\n  n_layer: [2\n')
    expect(() => readConfigFile(bad)).toThrow(InputError)
    fs.writeFileSync(bad, 'train:\n  steps: 1\n  steps: 2\n')
    expect(() => readConfigFile(bad)).toThrow(/bad\.yaml/)
    expect(() => readConfigFile(path.join(dir, 'none.yaml'))).toThrow(/cannot read config file/)
  })

  it('ships presets that validate', () => {
    for (const f of fs.readdirSync('configs')) resolveRunConfig(readConfigFile(path.join('configs', f)), {}, f)
  })
})
