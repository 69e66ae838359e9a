/**
 * The README's headline (issue #9, the 4 × 256 study) re-derived from the committed records: `ligo compare --from`
 * over the three committed reports must reproduce the last look's committed table and paired rows exactly, and the
 * committed verdict must follow from them by the registered rule. Fails if `compare`'s arithmetic drifts from the
 * published figures or a record is edited by hand.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {tmpDir} from '../helpers.js'

const growth = path.resolve('experiments/growth')
const final = path.join(growth, 'report-budget-w256-secondary-final')
const records = ['report-budget-w256', 'report-budget-w256-secondary', 'report-budget-w256-secondary-runs']

function look(versus: string, out: string): {table: string; paired: any} {
  const from = records.flatMap((r) => ['--from', path.join(growth, r)])
  const r = spawnSync(process.execPath, ['bin/run.js', 'compare', ...from, '--budgets', '--seeds', '--paired', versus, '--level', '0.975', '-o', out], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
  expect(r.status, r.stderr).toBe(0)
  return {table: fs.readFileSync(path.join(out, 'table.md'), 'utf8'), paired: JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8')).paired}
}

describe('the committed 4 × 256 headline', () => {
  it('re-derives from the committed records, and the verdict follows the registered rule', () => {
    const dir = tmpDir()
    const verdict = JSON.parse(fs.readFileSync(path.join(final, 'verdict.json'), 'utf8'))
    for (const x of ['stack', 'net2net', 'zero']) {
      const {table, paired} = look(x, path.join(dir, x))
      const section = table.slice(table.indexOf('Paired by seed against '))
      if (x === 'stack') expect(table).toBe(fs.readFileSync(path.join(final, 'table.md'), 'utf8'))
      else expect(section).toBe(fs.readFileSync(path.join(final, `paired-${x}.md`), 'utf8'))
      const row = paired.rows.find((r: any) => r.label === 'ligo')
      expect(paired.level).toBe(0.975)
      expect(row.diffs).toHaveLength(12)
      const v = verdict.versus[x]
      expect(row.mean).toBeCloseTo(v.mean, 12)
      expect(row.ci[0]).toBeCloseTo(v.ci975[0], 12)
      expect(row.ci[1]).toBeCloseTo(v.ci975[1], 12)
      expect(v.beaten).toBe(row.ci[0] > 0)
    }
    expect(verdict.beats_every_secondary).toBe(Object.values(verdict.versus).every((v: any) => v.beaten))
  })
})
