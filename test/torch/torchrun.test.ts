/**
 * The whole hand-off, as a user runs it: `ligo train` a small µP GPT-2 (α's off 1, so the export folds the
 * embeddings, the final norm and the query: c_attn carries q/k/v slices), `ligo grow` it (width ×2, depth ×2), then
 * continue the grown model twice from the same checkpoint with the same settings — `ligo train` and, after
 * `ligo export`, `torchrun --nproc_per_node 2 python/ligo_torch/train.py` (DDP, gloo, CPU). Per-step losses agree
 * to ≤ 1e-3 relative (same batches, schedule, clip, per-tensor LRs); the companion's checkpoint is read back by
 * `ligo eval` and `ligo import` and scores the companion's own final validation loss; `ligo compare` plots the two
 * runs together; the companion resumes its run (one process) as `ligo train --resume` resumes ligo's.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ligo} from '../cli/run.js'
import {runMetrics, smallBrown, tmpDir} from '../helpers.js'
import {TRAIN_PY, py, skipReason} from './python.js'

const reason = skipReason()

/** torchrun from torch's own module (works where the `torchrun` script is not on PATH). Debian's torch 1.13 on
 * Python 3.11 cannot parse --redirects/--tee 0 (its Std enum), hence 1: the workers' stdout goes through a tee.
 * --standalone: a rendezvous on a free local port (no clash with other runs on the machine). */
const TORCHRUN = ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--tee', '1', '--redirects', '1', '--standalone']

describe.skipIf(reason !== undefined)('PyTorch companion: torchrun continues a grown GPT-2 exactly as ligo train does', () => {
  it('DDP ×2 (gloo): same losses, checkpoint read back by ligo, compare, resume', async () => {
    const data = await smallBrown()
    const root = tmpDir('ligo-torch-run-')
    const at = (p: string) => path.join(root, p)
    const ok = (r: {code: number | null; stdout: string; stderr: string}) => expect(r.code, r.stderr + r.stdout).toBe(0)
    fs.writeFileSync(at('small.json'), JSON.stringify({
      model: {family: 'gpt2', vocab_size: 256, n_positions: 64, n_layer: 2, d_model: 32, n_head: 4, d_ffn: 64, param: 'mup', alpha_in: 1.5, alpha_out: 0.7, alpha_attn: 1.2},
      train: {steps: 20, batch: 4, seq: 32, lr: 0.003, warmup: 5, eval_every: 0, eval_batches: 6, seed: 4242, weight_decay: 0.1, grad_clip: 0.5}}))
    ok(ligo(['train', '--config', at('small.json'), '--data', data, '-o', at('small')]))
    ok(ligo(['grow', at('small'), '--width', '64', '--depth', '4', '--data', data, '--steps', '3', '--batch', '4', '--seq', '32', '--eval-batches', '0', '-o', at('grown')]))
    // The same flags for both; the rest (lr, schedule, decay, β, ε, clip, seed, eval_batches) is the checkpoint's
    // run config, which the companion reads from ligo_mup.json's `train`.
    // Two micro-batches of 4 rows per step (gradient accumulation; each process takes 2 rows of each).
    const settings = ['--steps', '20', '--warmup', '5', '--batch', '4', '--accum', '2', '--seq', '32', '--eval-every', '10']
    ok(ligo(['train', at('grown'), '--data', data, '-o', at('ligo-run'), ...settings]))
    ok(ligo(['export', at('grown'), '-o', at('hf')]))
    const table = JSON.parse(fs.readFileSync(at('hf/ligo_mup.json'), 'utf8'))
    expect(table.tensors['transformer.h.0.attn.c_attn.weight'].slices).toHaveLength(3)
    expect(table.tensors['transformer.ln_f.weight'].fold).not.toBe(1)
    ok(py([...TORCHRUN, TRAIN_PY, at('hf'), '--data', data, '-o', at('torch-run'), ...settings], {minimal: true}))

    const ours = runMetrics(at('ligo-run'))
    const theirs = runMetrics(at('torch-run'))
    expect(theirs.map((r) => r.step)).toEqual(ours.map((r) => r.step))
    expect(theirs.length).toBe(20)
    for (const [i, r] of theirs.entries()) {
      const o = ours[i]
      expect(Math.abs(r.loss - o.loss) / o.loss, `step ${r.step}: loss ${r.loss} vs ligo ${o.loss}`).toBeLessThanOrEqual(1e-3)
      expect(r.lr).toBeCloseTo(o.lr, 12)
      expect(r.tokens).toBe(o.tokens)
      expect(r.flops).toBe(o.flops)
      // Measured agreement is ~1e-7; 1e-5 still catches a fold missing from the clip norm (in ligo's coordinates).
      expect(Math.abs(r.grad_norm - o.grad_norm) / o.grad_norm, `step ${r.step}: grad norm ${r.grad_norm} vs ligo ${o.grad_norm}`).toBeLessThanOrEqual(1e-5)
      expect(r.val_loss === undefined).toBe(o.val_loss === undefined)
      if (o.val_loss !== undefined) expect(Math.abs(r.val_loss! - o.val_loss) / o.val_loss).toBeLessThanOrEqual(1e-3)
    }

    // ligo reads the companion's checkpoint (an HF directory) directly and through `ligo import`.
    const final = theirs.at(-1)!.val_loss!
    const evalArgs = ['--data', data, '--batch', '4', '--seq', '32', '--batches', '6', '--json']
    const direct = ligo(['eval', at('torch-run'), ...evalArgs])
    ok(direct)
    expect(Math.abs(JSON.parse(direct.stdout).loss - final) / final).toBeLessThanOrEqual(1e-5)
    ok(ligo(['import', path.join(at('torch-run'), 'checkpoint'), '-o', at('imported')]))
    const imported = ligo(['eval', at('imported'), ...evalArgs])
    ok(imported)
    expect(Math.abs(JSON.parse(imported.stdout).loss - final) / final).toBeLessThanOrEqual(1e-5)

    // `ligo compare` reads the companion's metrics.jsonl beside ligo's run.
    const cmp = ligo(['compare', at('ligo-run'), at('torch-run'), '--baseline', at('ligo-run'), '-o', at('report'), '--json'])
    ok(cmp)
    const runs = JSON.parse(cmp.stdout).runs as {dir: string; method?: string; growth: {flops: number}; small?: {flops: number}}[]
    expect(runs.map((r) => path.basename(r.dir)).sort()).toEqual(['ligo-run', 'torch-run'])
    // The companion's run is known for what it is: grown by LiGO (through the export's recorded provenance), charged
    // the same operator FLOPs and the same small model as ligo's own run.
    const [ourRun, theirRun] = ['ligo-run', 'torch-run'].map((n) => runs.find((r) => path.basename(r.dir) === n)!)
    expect(theirRun.method).toBe('ligo')
    expect(theirRun.growth.flops).toBeGreaterThan(0)
    expect(theirRun.growth.flops).toBe(ourRun.growth.flops)
    expect(theirRun.small?.flops).toBe(ourRun.small?.flops)
    expect(fs.existsSync(at('report/loss_vs_flops.svg'))).toBe(true)

    // Resume: 4 more steps in one process continue as `ligo train --resume` does (the schedule now spans 24 steps).
    ok(ligo(['train', '--resume', at('ligo-run'), '--steps', '24']))
    ok(py([TRAIN_PY, '--resume', at('torch-run'), '--steps', '24'], {minimal: true}))
    const ours2 = runMetrics(at('ligo-run'))
    const theirs2 = runMetrics(at('torch-run'))
    expect(theirs2.map((r) => r.step)).toEqual(ours2.map((r) => r.step))
    for (const [i, r] of theirs2.entries()) expect(Math.abs(r.loss - ours2[i].loss) / ours2[i].loss).toBeLessThanOrEqual(1e-3)
  })
})
