/**
 * The companion's pieces against ligo's: the counter hash behind the batch sampler and the LR schedule (bit for bit),
 * safetensors files both ways, MupAdamW's per-slice step for fused tensors and the clip norm in ligo's coordinates,
 * and the table's refusals (names that do not match, fused slices given to a plain torch.optim.AdamW).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {readSafetensors, writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {counterInt} from '../../src/data/rng.js'
import {writeHfDir} from '../../src/model/hf.js'
import {modelConfig, schemaOf} from '../../src/model/index.js'
import {type ScheduleConfig, lrAt} from '../../src/optim/schedule.js'
import {smallBrown, tmpDir} from '../helpers.js'
import {TRAIN_PY, py, randomWeights, skipReason, tool} from './python.js'

const reason = skipReason()

function pyJson(code: string): any {
  const r = py(['-c', code])
  if (r.code !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)
}

describe.skipIf(reason !== undefined)('PyTorch companion: its pieces match ligo\'s', () => {
  it('counter_int (the batch sampler) and lr_at (the schedule) equal rng.ts counterInt and schedule.ts lrAt', () => {
    const words = [[44_478, 1337, 0, 0, 0], [44_478, 1337, 19, 1, 7], [1 << 30, 7, 123_456, 3, 15], [97, 2 ** 40, 0, 0, 1], [5, -3, 2, 1, 0]]
    const scheds: ScheduleConfig[] = [
      {lr: 0.003, warmup: 5, steps: 20, schedule: 'cosine', min_lr_ratio: 0.1},
      {lr: 1e-3, warmup: 0, steps: 7, schedule: 'linear', min_lr_ratio: 0},
      {lr: 0.02, warmup: 3, steps: 9, schedule: 'constant', min_lr_ratio: 0.5},
    ]
    const got = pyJson(`import json; from ligo_torch.data import counter_int; from ligo_torch.optim import lr_at
s = ${JSON.stringify(scheds)}
print(json.dumps({'ints': [counter_int(*w) for w in ${JSON.stringify(words)}],
  'lrs': [[lr_at(k, c['lr'], c['warmup'], c['steps'], c['schedule'], c['min_lr_ratio']) for k in range(c['steps'] + 2)] for c in s]}))`)
    expect(got.ints).toEqual(words.map(([n, ...w]) => counterInt(n, ...w)))
    expect(got.lrs).toEqual(scheds.map((s) => Array.from({length: s.steps + 2}, (_, k) => lrAt(k, s))))
  })

  it('safetensors: the companion reads ligo\'s files (F32, F16, BF16) and ligo reads the companion\'s', () => {
    const dir = tmpDir('ligo-torch-st-')
    const data = Float32Array.from({length: 12}, (_, i) => (i - 5.5) / 3)
    const dtypes = ['F32', 'F16', 'BF16'] as const
    for (const dtype of dtypes)
      writeSafetensors(path.join(dir, `${dtype}.safetensors`), new Map([['a.weight', {shape: [3, 4], data}], ['b', {shape: [2], data: Float32Array.of(1.5, -2)}]]), {dtype})
    const got = pyJson(`import json; from ligo_torch.safetensors_io import read_safetensors, write_safetensors
out = {}
for d in ${JSON.stringify(dtypes)}:
    t, _ = read_safetensors(${JSON.stringify(dir)} + '/' + d + '.safetensors')
    write_safetensors(${JSON.stringify(dir)} + '/' + d + '.back.safetensors', {k: v.float() for k, v in t.items()}, {'format': 'pt'})
    out[d] = {k: [str(v.dtype), list(v.shape), v.float().flatten().tolist()] for k, v in t.items()}
print(json.dumps(out))`)
    for (const dtype of dtypes) {
      const want = readSafetensors(path.join(dir, `${dtype}.safetensors`)).tensors
      const a = got[dtype]['a.weight']
      expect(a[0]).toBe({F32: 'torch.float32', F16: 'torch.float16', BF16: 'torch.bfloat16'}[dtype])
      expect(a[1]).toEqual([3, 4])
      expect(a[2]).toEqual(Array.from(want.get('a.weight')!.data))
      const back = readSafetensors(path.join(dir, `${dtype}.back.safetensors`)).tensors
      expect(Array.from(back.get('a.weight')!.data)).toEqual(Array.from(want.get('a.weight')!.data))
      expect(back.get('b')!.shape).toEqual([2])
    }
  })

  it('MupAdamW steps a fused tensor slice by slice as torch.optim.AdamW steps its parts; the clip norm weighs slices by their folds', () => {
    const r = tool(['slices-check'])
    expect(r.moved).toBeGreaterThan(1e-2) // the three steps moved the weights
    expect(r.max_diff).toBeLessThanOrEqual(1e-7)
    expect(r.clip_norm).toBeCloseTo(r.clip_norm_expected, 12)
  })

  it('refuses a table that does not name the model\'s tensors (listing them all) and fused slices for a plain AdamW', async () => {
    const data = await smallBrown()
    const c = modelConfig({family: 'gpt2', vocab_size: 256, n_positions: 16, n_layer: 1, d_model: 8, n_head: 2, d_ffn: 16})
    const dir = path.join(tmpDir('ligo-torch-table-'), 'hf')
    writeHfDir(dir, {config: c, weights: randomWeights(schemaOf(c), 1), tokenizer: {kind: 'byte', vocabSize: 256}, train: {steps: 1, batch: 2, seq: 8}})
    const file = path.join(dir, 'ligo_mup.json')
    const table = JSON.parse(fs.readFileSync(file, 'utf8'))
    const good = structuredClone(table)
    delete table.tensors['transformer.h.0.mlp.c_fc.bias']
    table.tensors['transformer.h.0.attn.q_proj.weight'] = {shape: [8, 8], role: 'hidden', lr_mult: 1, weight_decay_mult: 1, eps_mult: 1, fold: 1}
    fs.writeFileSync(file, JSON.stringify(table))
    const bad = py(['-m', 'ligo_torch.tool', 'step', dir, '--data', data, '-o', path.join(dir, '..', 'out')], {minimal: true})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('parameters with no entry in the table: transformer.h.0.mlp.c_fc.bias')
    expect(bad.stderr).toContain('table entries with no parameter in the model: transformer.h.0.attn.q_proj.weight')

    // c_attn as three parts with different numbers: MupAdamW applies them, a plain AdamW group is refused.
    const cAttn = good.tensors['transformer.h.0.attn.c_attn.weight']
    good.tensors['transformer.h.0.attn.c_attn.weight'] = {...cAttn, lr_mult: null, weight_decay_mult: null, eps_mult: null, fold: null,
      slices: ['q', 'k', 'v'].map((of, i) => ({axis: -1, start: 8 * i, end: 8 * (i + 1), of, lr_mult: i === 0 ? 0.5 : 1, weight_decay_mult: i === 0 ? 2 : 1, eps_mult: i === 0 ? 2 : 1, fold: i === 0 ? 0.5 : 1}))}
    fs.writeFileSync(file, JSON.stringify(good))
    const plain = py(['-m', 'ligo_torch.tool', 'step', dir, '--data', data, '-o', path.join(dir, '..', 'out'), '--plain'], {minimal: true})
    expect(plain.code).toBe(2)
    expect(plain.stderr).toContain('transformer.h.0.attn.c_attn.weight is a fused tensor')
    expect(plain.stderr).toContain('MupAdamW')
    expect(tool(['step', dir, '--data', data, '-o', path.join(dir, '..', 'out')], {minimal: true}).optimizer).toBe('MupAdamW')
  })

  it('train.py refuses bad input with exit 2 and a message that says what to do', async () => {
    const data = await smallBrown()
    const root = tmpDir('ligo-torch-refuse-')
    const c = modelConfig({family: 'gpt2', vocab_size: 256, n_positions: 16, n_layer: 1, d_model: 8, n_head: 2, d_ffn: 16})
    const hf = path.join(root, 'hf')
    writeHfDir(hf, {config: c, weights: randomWeights(schemaOf(c), 1), tokenizer: {kind: 'byte', vocabSize: 256}, train: {steps: 2, batch: 2, seq: 8}})
    const train = (args: string[]) => py([TRAIN_PY, ...args], {minimal: true})
    const cases: [string[], string][] = [
      [[root, '--data', data, '-o', path.join(root, 'r1')], 'no config.json'],
      [[hf, '-o', path.join(root, 'r2')], 'missing --data'],
      [[hf, '--data', data, '-o', path.join(root, 'r3'), '--batch', '3', '--fsdp'], '--fsdp'],
      [[hf, '--data', data, '-o', root], 'is not empty'],
      [[hf, '--data', data, '-o', path.join(root, 'r4'), '--schedule', 'exp'], '--schedule exp'],
    ]
    for (const [args, msg] of cases) {
      const r = train(args)
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toContain(msg)
    }
    const ok = train([hf, '--data', data, '-o', path.join(root, 'run'), '--steps', '1', '--eval-every', '0'])
    expect(ok.code, ok.stderr).toBe(0)
    const resumed = train(['--resume', path.join(root, 'run'), '--steps', '2', '--lr', '0.5'])
    expect(resumed.code).toBe(2)
    expect(resumed.stderr).toContain('--lr cannot change (only --steps)')
  })
})
