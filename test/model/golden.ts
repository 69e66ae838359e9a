/**
 * Golden parity with transformers: every HF tensor set by one closed-form formula, so the Python side that produced
 * the golden logits (quoted in each family's test) and this side build the same model without shipping weights.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'

import {writeSafetensors} from '../../src/checkpoints/safetensors.js'
import {fromHfConfig, mapping, readHfDir} from '../../src/model/hf.js'
import {type ModelConfig, forward, schemaOf} from '../../src/model/index.js'
import {tmpDir} from '../helpers.js'

/** HF tensors of a model set by the formula, named and shaped by our mapping (so the mapping is tested too). */
export function formulaTensors(c: ModelConfig): Map<string, {shape: number[]; data: Float32Array}> {
  const out = new Map<string, {shape: number[]; data: Float32Array}>()
  for (const r of mapping(c)) {
    const cs = [...r.hf].reduce((a, ch) => a + ch.charCodeAt(0), 0)
    const low = r.hf.toLowerCase()
    const norm = r.shape.length === 1 && r.hf.endsWith('weight') && (low.includes('norm') || low.includes('ln_'))
    const [offset, scale] = norm ? [1, 0.2] : [0, r.shape.length === 1 ? 0.1 : 0.4]
    out.set(r.hf, {shape: r.shape, data: Float32Array.from({length: r.shape.reduce((a, b) => a * b, 1)}, (_, i) => offset + scale * Math.sin(0.91 * i + 0.37 * cs))})
  }
  return out
}


// The golden logits quoted in each family's test were computed once by transformers 5.17.0 (torch 2.11, float32)
// for the family's HF class, every tensor set by the formula above under its HF name (tied copies left to
// transformers), on GOLDEN_IDS; columns GOLDEN_COLS. The Python side, in full:
//   for k, v in model.state_dict().items():   # skipping tied lm_head / decoder entries
//       i = torch.arange(v.numel(), dtype=torch.float64); s = torch.sin(0.91 * i + 0.37 * sum(map(ord, k)))
//       norm = v.dim() == 1 and k.endswith('weight') and ('norm' in k.lower() or 'ln_' in k.lower())
//       new[k] = ((1 + 0.2 * s) if norm else (0.1 * s if v.dim() == 1 else 0.4 * s)).float().reshape(v.shape)
//   model.load_state_dict(new, strict=False); logits = model(input_ids=torch.tensor([GOLDEN_IDS])).logits[0]
export const GOLDEN_IDS = [3, 17, 42, 8, 29, 0, 55, 11, 31, 7, 98, 64]
export const GOLDEN_COLS = [0, 7, 50, 98]

/**
 * The largest |our logit − transformers' golden logit| (golden[t][j]: position t, column GOLDEN_COLS[j]) for the
 * model an HF config.json describes, its weights written by the formula and read back through our HF reader.
 */
export function goldenLogitError(hfConfig: Record<string, unknown>, golden: readonly (readonly number[])[]): number {
  const dir = tmpDir()
  const c = fromHfConfig(hfConfig, 'config.json')
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig))
  writeSafetensors(path.join(dir, 'model.safetensors'), formulaTensors(c), {metadata: {format: 'pt'}})
  const m = readHfDir(dir)
  const logits = tf.tidy(() => {
    const p = new Map(schemaOf(m.config).map((s) => [s.name, tf.tensor(m.weights.get(s.name)!, s.shape)]))
    return forward(m.config, p, Int32Array.from(GOLDEN_IDS), 1, GOLDEN_IDS.length).arraySync()
  })
  let worst = 0
  golden.forEach((row, t) => row.forEach((want, j) => (worst = Math.max(worst, Math.abs(logits[t][GOLDEN_COLS[j]] - want)))))
  return worst
}
