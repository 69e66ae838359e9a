/**
 * One AdamW step in PyTorch with the µP table's parameter groups (python/ligo_torch/mup.py, optim.py) on the exported
 * weights of a µP-grown model equals ligo's one µP step (src/train/trainer.ts, `ligo train --steps 1`), exported
 * (folded), to ≤ 1e-5 relative per tensor: same batch, same lr(0), same clip (in ligo's coordinates), same per-tensor
 * lr, decay and eps. ε and λ are large so that the eps and decay multipliers matter; the clip is active. Negative
 * controls: the same step with the table ignored, or with the clip norm taken in HF coordinates, is far off.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {type Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {readSafetensors} from '../../src/checkpoints/safetensors.js'
import {growConfig} from '../../src/ligo/spaces.js'
import {type HfMupTable, toHfTensors, writeHfDir} from '../../src/model/hf.js'
import {type ModelConfig, modelConfig, schemaOf} from '../../src/model/index.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {train} from '../../src/train/trainer.js'
import {relErr, runMetrics, smallBrown, tmpDir, useCpu} from '../helpers.js'
import {randomWeights, skipReason, tool} from './python.js'

const TRAIN = {steps: 1, batch: 4, seq: 16, lr: 0.01, warmup: 0, weight_decay: 0.3, eps: 1e-3, grad_clip: 0.1, eval_every: 0, eval_batches: 1, seed: 5}

const MUP = {param: 'mup', alpha_in: 1.7, alpha_out: 0.6, alpha_attn: 1.3}
/** µP sources; the test grows each width ×2 and depth ×2 (growConfig: the base shapes and α's stay the source's). */
const CASES: Record<string, Record<string, unknown>> = {
  'µP-grown gpt2 tied (c_attn with q/k/v slices)': {family: 'gpt2', vocab_size: 256, n_positions: 16, n_layer: 1, d_model: 8, n_head: 2, d_ffn: 20, ...MUP},
  'µP-grown llama GQA untied': {family: 'llama', vocab_size: 256, n_positions: 16, n_layer: 1, d_model: 8, n_head: 2, n_kv_head: 1, d_ffn: 12,
    tie_embeddings: false, ...MUP},
}

const reason = skipReason()

describe.skipIf(reason !== undefined)('PyTorch companion: one AdamW step with the table equals ligo\'s µP step', () => {
  beforeAll(useCpu)

  for (const [name, raw] of Object.entries(CASES)) {
    it(name, async () => {
      const data = await smallBrown()
      const root = tmpDir('ligo-torch-step-')
      const small = modelConfig(raw)
      const c: ModelConfig = growConfig(small, {width: 2 * small.d_model, depth: 2 * small.n_layer})
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
      writeHfDir(hf, {config: c, weights, tokenizer: {kind: 'byte', vocabSize: 256}, train: cfg.train})
      const table = JSON.parse(fs.readFileSync(path.join(hf, 'ligo_mup.json'), 'utf8')) as HfMupTable
      const sliced = Object.values(table.tensors).some((t) => t.slices)
      expect(sliced).toBe(c.family === 'gpt2') // q is folded (α_attn), k and v are not
      const check = (flags: string[]) => {
        const out = path.join(root, `torch${flags.join('')}`)
        const r = tool(['step', hf, '--data', data, '-o', out, ...flags], {minimal: true})
        const got = readSafetensors(path.join(out, 'model.safetensors')).tensors
        const errs = new Map([...want].map(([n, t]) => [n, relErr(got.get(n)!.data as Float32Array, t.data)]))
        return {r, errs, worst: Math.max(...errs.values())}
      }
      // A plain torch.optim.AdamW over param_groups where no tensor is fused with slices; MupAdamW everywhere.
      for (const flags of sliced ? [[]] : [[], ['--plain']]) {
        const {r, errs, worst} = check(flags)
        expect(r.optimizer).toBe(flags.length ? 'AdamW' : 'MupAdamW')
        expect(r.grad_norm).toBeGreaterThan(TRAIN.grad_clip) // the clip is active
        expect(Math.abs(r.grad_norm - ligoRow.grad_norm) / ligoRow.grad_norm).toBeLessThanOrEqual(1e-5)
        expect(Math.abs(r.loss - ligoRow.loss) / ligoRow.loss).toBeLessThanOrEqual(1e-6)
        expect(worst, JSON.stringify(Object.fromEntries(errs))).toBeLessThanOrEqual(1e-5)
      }
      // Negative controls: plain AdamW (every multiplier 1), or the clip norm in HF coordinates, misses ligo's µP
      // step by far more than the tolerance.
      expect(check(['--no-table']).worst).toBeGreaterThan(1e-3)
      expect(check(['--no-clip-fold']).worst).toBeGreaterThan(1e-4)
    })
  }
})
