/**
 * One AdamW step in PyTorch with the µP table's parameter groups (python/ligo_torch/mup.py, optim.py) on the exported
 * weights equals ligo's one µP step (src/train/trainer.ts, `ligo train --steps 1`), exported, to ≤ 1e-5 relative per
 * tensor: same batch, same lr(0), same clip (in ligo's coordinates), same per-tensor lr, decay and eps. The table's
 * multipliers must matter: the same step with the table ignored is far off.
 */
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {type Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors} from '../../src/checkpoints/safetensors.js'
import {toHfTensors, writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, modelConfig, schemaOf} from '../../src/model/index.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {runMetrics, smallBrown, tmpDir, useCpu} from '../helpers.js'
import {randomWeights, relErr, skipReason, tool} from './python.js'
import {writeMupTable} from './table.js'

const TRAIN = {steps: 1, batch: 4, seq: 16, lr: 0.01, warmup: 0, weight_decay: 0.3, eps: 1e-3, grad_clip: 0.5, eval_every: 0, eval_batches: 1, seed: 5}

const CASES: Record<string, Record<string, unknown>> = {
  'gpt2 µP tied (heads, FFN ×2 their base)': {family: 'gpt2', vocab_size: 256, n_positions: 16, n_layer: 2, d_model: 16, n_head: 4, d_ffn: 40,
    param: 'mup', base_n_head: 2, base_d_ffn: 20},
  'llama µP GQA untied (heads, FFN ×2 their base)': {family: 'llama', vocab_size: 256, n_positions: 16, n_layer: 2, d_model: 16, n_head: 4,
    n_kv_head: 2, d_ffn: 24, tie_embeddings: false, param: 'mup', base_n_head: 2, base_d_ffn: 12},
}

const reason = skipReason()

describe.skipIf(reason !== undefined)('PyTorch companion: one AdamW step with the table equals ligo\'s µP step', () => {
  beforeAll(useCpu)

  for (const [name, raw] of Object.entries(CASES)) {
    it(name, async () => {
      const data = await smallBrown()
      const root = tmpDir('ligo-torch-step-')
      const c: ModelConfig = modelConfig(raw)
      const cfg = resolveRunConfig({model: c, train: TRAIN})
      const weights = randomWeights(schemaOf(c), 3, 0.1)
      const from: Checkpoint = {dir: path.join(root, 'init'), schema: schemaOf(c), weights,
        meta: {format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: c, tokenizer: {kind: 'byte', vocabSize: 256}, train: cfg.train, provenance: {}}}
      // ligo: one step from these weights, then exported (folded) as the HF tensors to compare with.
      const run = path.join(root, 'ligo-run')
      await train({config: cfg, dataDir: data, outDir: run, from})
      const stepped = loadCheckpoint(run)
      const want = toHfTensors(c, stepped.weights)
      const ligoRow = runMetrics(run)[0]

      const hf = path.join(root, 'hf')
      writeHfDir(hf, {config: c, weights, tokenizer: {kind: 'byte', vocabSize: 256}})
      writeMupTable(hf, c, cfg.train)
      const check = (flags: string[]) => {
        const out = path.join(root, `torch${flags.join('')}`)
        const r = tool(['step', hf, '--data', data, '-o', out, ...flags], {minimal: true})
        const got = readSafetensors(path.join(out, 'model.safetensors')).tensors
        const errs = new Map([...want].map(([n, t]) => [n, relErr(got.get(n)!.data as Float32Array, t.data)]))
        return {r, errs, worst: Math.max(...errs.values())}
      }
      for (const flags of [[], ['--plain']]) {
        const {r, errs, worst} = check(flags)
        expect(r.optimizer).toBe(flags.length ? 'AdamW' : 'MupAdamW')
        expect(r.grad_norm).toBeGreaterThan(TRAIN.grad_clip) // the clip is active
        expect(Math.abs(r.grad_norm - ligoRow.grad_norm) / ligoRow.grad_norm).toBeLessThanOrEqual(1e-5)
        expect(Math.abs(r.loss - ligoRow.loss) / ligoRow.loss).toBeLessThanOrEqual(1e-6)
        expect(worst, JSON.stringify(Object.fromEntries(errs))).toBeLessThanOrEqual(1e-5)
      }
      // Negative control: plain AdamW (every multiplier 1) misses ligo's µP step on the tensors whose multipliers
      // are not 1, by far more than the tolerance.
      const {worst} = check(['--no-table'])
      expect(worst).toBeGreaterThan(1e-3)
    })
  }
})
