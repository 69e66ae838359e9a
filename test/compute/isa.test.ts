// The AVX2 and scalar kernel paths (chosen at load time by LIGO_ISA) on this AVX-512 machine, in child processes.
import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {PACKAGE_ROOT} from '../../src/compute/native.js'
import {native} from './helpers.js'

const script = fileURLToPath(new URL('./isa-check.mjs', import.meta.url))

describe.skipIf(!native)('kernel ISA fallbacks', () => {
  for (const isa of ['avx2', 'scalar']) {
    it(`LIGO_ISA=${isa} gives the same results as plain JS`, () => {
      const out = execFileSync(process.execPath, [script, PACKAGE_ROOT], {env: {...process.env, LIGO_ISA: isa}, encoding: 'utf8'})
      const res = JSON.parse(out.trim().split('\n').pop()!) as {isa: string; failures: string[]}
      expect(res.failures).toEqual([])
      // A CPU without AVX2 reports 'scalar' for both.
      expect(['scalar', isa]).toContain(res.isa)
    })
  }
})
