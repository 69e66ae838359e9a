/**
 * ligo_mup.json for a model ligo exports without folds (forward multipliers all 1), written from src/mup's table
 * and hf.ts's name mapping, for the tests until `ligo export` writes it itself (notes/mup-table-spec.md).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {mapping} from '../../src/model/hf.js'
import {type ModelConfig, schemaOf} from '../../src/model/index.js'
import {forwardMultipliers, mupTable} from '../../src/mup/index.js'

export function writeMupTable(dir: string, c: ModelConfig, train: object): void {
  const m = forwardMultipliers(c)
  if (m.input !== 1 || m.readout !== 1 || Math.abs(m.attention - 1 / Math.sqrt(c.head_size)) > 1e-12) throw new Error('writeMupTable: a model with folds')
  const rows = new Map(mupTable(c, schemaOf(c)).map((r) => [r.name, r]))
  const tensors: Record<string, unknown> = {}
  for (const r of mapping(c)) {
    if (r.optional) continue
    const parts = r.ours.map((n) => rows.get(n)!)
    const nums = parts.map((p) => ({lr_mult: p.lr_mult, weight_decay_mult: p.wd_mult, eps_mult: 1, fold: 1}))
    if (nums.some((n) => JSON.stringify(n) !== JSON.stringify(nums[0]))) throw new Error(`writeMupTable: ${r.hf} needs slices`)
    tensors[r.hf] = {shape: r.shape, role: parts[0].role, ...nums[0]}
  }
  const table = {format: 'ligo-mup-table', version: 1, family: c.family, parametrization: c.param, optimizer_family: 'adam', train, tensors}
  fs.writeFileSync(path.join(dir, 'ligo_mup.json'), JSON.stringify(table, null, 2))
}
