/** Run-directory edges from the issue #31 audit: `train -o FILE` is bad input (exit 2). */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {killStragglers, ligo, metricRows, requireDist, start, tinyData, tmpDir, waitFor, writeTinyConfig} from './helpers.js'

let base: string
let data: string
let cfg: string
beforeAll(async () => {
  requireDist()
  base = tmpDir()
  data = await tinyData(base)
  cfg = writeTinyConfig(base, {save_every: 0, steps: 400})
})
afterAll(killStragglers)

/** Starts `ligo train ARGS`, SIGKILLs it once it has logged a step (before any checkpoint), and waits for it. */
async function killBeforeFirstCheckpoint(args: string[], run: string): Promise<void> {
  const r = start(['train', ...args, '-o', run, '--backend', 'cpu'])
  expect(await waitFor(() => metricRows(run).length >= 2 || r.exited()), 'the run logged steps').toBe(true)
  r.child.kill('SIGKILL')
  const end = await r.done
  expect(end.signal, end.stderr).toBe('SIGKILL')
  expect(fs.existsSync(path.join(run, 'checkpoint'))).toBe(false)
  expect(fs.readdirSync(run).sort()).toEqual(['.lock', 'metrics.jsonl', 'run.json'])
}

const weights = (run: string) => fs.readFileSync(path.join(run, 'checkpoint', 'model.safetensors'))

describe('train -o', () => {
  it('an existing file is bad input (exit 2), as for grow', async () => {
    const file = path.join(base, 'a-file')
    fs.writeFileSync(file, 'mine')
    const r = await ligo(['train', '-c', cfg, '-d', data, '-o', file, '--steps', '1', '--backend', 'cpu'])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain(`${file} exists and is not a directory: choose another output`)
    expect(fs.readFileSync(file, 'utf8')).toBe('mine')
  })
})
