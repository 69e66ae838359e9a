/**
 * Smoke test of the headline experiment: `make -C experiments/growth SMALL=1` runs the whole pipeline (prepare,
 * pretrain, grow by every method, train, compare; then every grown method again at a shorter budget and the
 * budget-matched compare) at toy sizes and must produce both reports.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {tmpDir} from '../helpers.js'

const hasMake = spawnSync('make', ['--version']).status === 0

describe.skipIf(!hasMake)('experiments/growth SMALL=1', () => {
  it('runs end to end and writes the comparison', () => {
    if (!fs.existsSync('dist/commands/compare.js')) throw new Error('dist/ is missing: run `npm run build` first')
    const out = path.join(tmpDir('ligo-exp-'), 'out')
    const r = spawnSync('make', ['-C', 'experiments/growth', 'SMALL=1', `OUT=${out}`], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
    expect(r.status, r.stderr.slice(-2000)).toBe(0)
    const cmp = JSON.parse(fs.readFileSync(path.join(out, 'report', 'compare.json'), 'utf8'))
    const text = JSON.stringify(cmp)
    for (const m of ['random', 'ligo', 'stack', 'interleave', 'net2net', 'zero']) expect(text).toContain(`"${m}"`)
    expect(fs.readFileSync(path.join(out, 'report', 'table.md'), 'utf8')).toMatch(/\| method \|/)
    expect(fs.readFileSync(path.join(out, 'report', 'loss_vs_flops.png')).subarray(1, 4).toString()).toBe('PNG')
    const budget = JSON.parse(fs.readFileSync(path.join(out, 'report-budget', 'compare.json'), 'utf8'))
    expect(budget.budgets).toBe(true)
    const ligo = budget.runs.find((r: {label: string}) => r.label === 'ligo')
    expect(ligo.budgets.map((b: {steps: number}) => b.steps)).toEqual([60, 120]) // SMALL's budget, then the full run
    expect(fs.readFileSync(path.join(out, 'report-budget', 'table.md'), 'utf8')).toContain('Budget-matched')
    // --label takes one value each time: the run directories after it stay runs (oclif's multiple flags are greedy otherwise).
    const lr = spawnSync(process.execPath, ['bin/run.js', 'compare', path.join(out, 'run-random'), `--label=mine=${path.join(out, 'run-ligo')}`, path.join(out, 'run-ligo'), path.join(out, 'run-stack'), '-o', path.join(out, 'report-label')], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
    expect(lr.status, lr.stderr).toBe(0)
    const labelled = JSON.parse(fs.readFileSync(path.join(out, 'report-label', 'compare.json'), 'utf8'))
    expect(labelled.methods.map((m: {label: string}) => m.label)).toEqual(['random', 'mine', 'stack'])
    // --from: the budget report re-read from its compare.json alone (no run directory) gives the same table; the
    // stacking runs given as directories beside it are refused (one source per method and seed).
    const again = path.join(out, 'report-again')
    const fr = spawnSync(process.execPath, ['bin/run.js', 'compare', '--from', path.join(out, 'report-budget'), '--budgets', '-o', again], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
    expect(fr.status, fr.stderr).toBe(0)
    expect(fs.readFileSync(path.join(again, 'table.md'), 'utf8')).toBe(fs.readFileSync(path.join(out, 'report-budget', 'table.md'), 'utf8'))
    const dup = spawnSync(process.execPath, ['bin/run.js', 'compare', '--from', path.join(out, 'report-budget'), path.join(out, 'run-stack'), '--budgets', '-o', path.join(out, 'report-dup')], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
    expect(dup.status).toBe(2)
    expect(dup.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ')).toMatch(/'stack' seed \d+ .*run-stack.* also gives/)
    expect(fs.existsSync(path.join(out, 'report-dup'))).toBe(false)
  })
})
