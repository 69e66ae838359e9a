/**
 * The experiment Makefile accepts every growth method and the post-growth schedule variant (issue #30): a dry run
 * (`make -n`) shows the commands each setting makes, in seconds. The SMALL=1 pipeline test runs the default six.
 */
import {spawnSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

const hasMake = spawnSync('make', ['--version']).status === 0
const dry = (...vars: string[]) => spawnSync('make', ['-n', '-C', 'experiments/growth', 'OUT=/tmp/ligo-dry', 'LIGO=ligo', ...vars], {encoding: 'utf8'})

describe.skipIf(!hasMake)('experiments/growth Makefile: METHODS and POST', () => {
  it('grows and trains msg and hypercloning with their flags, and compares them with scratch', () => {
    const r = dry('METHODS=random msg hypercloning', 'MSG_GROW_STEPS=120', 'CLONE_VARIANT=noisy-diagonal')
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/ligo grow \/tmp\/ligo-dry\/small .*--method msg .*--grow-steps 120 /)
    expect(r.stdout).toMatch(/ligo grow \/tmp\/ligo-dry\/small .*--method hypercloning .*--clone-variant noisy-diagonal /)
    expect(r.stdout).toMatch(/ligo train \/tmp\/ligo-dry\/grown-msg --config target\.yaml .*-o \/tmp\/ligo-dry\/run-msg /)
    expect(r.stdout).toContain('ligo compare /tmp/ligo-dry/run-random /tmp/ligo-dry/run-msg /tmp/ligo-dry/run-hypercloning')
  })

  it('POST=lemon trains the grown methods with --decay-fraction 0.5 into run-M-lemon and labels them in report-lemon', () => {
    const r = dry('POST=lemon', 'METHODS=random msg net2net')
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/ligo train \/tmp\/ligo-dry\/grown-msg --config target\.yaml .*-o \/tmp\/ligo-dry\/run-msg-lemon .*--decay-fraction 0\.5/)
    expect(r.stdout).toMatch(/ligo train \/tmp\/ligo-dry\/grown-random --config target\.yaml .*-o \/tmp\/ligo-dry\/run-random --seed 1 --force/) // scratch keeps its schedule
    expect(r.stdout).not.toContain('run-random-lemon')
    expect(r.stdout).toContain('ligo compare /tmp/ligo-dry/run-random --label=msg-lemon=/tmp/ligo-dry/run-msg-lemon /tmp/ligo-dry/run-msg-lemon --label=net2net-lemon=/tmp/ligo-dry/run-net2net-lemon')
    expect(r.stdout).toContain('-o /tmp/ligo-dry/report-lemon')
  })
})
