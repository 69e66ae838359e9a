/** Running the built CLI (bin/run.js over dist/) as a user does, for the end-to-end tests. */
import {spawnSync} from 'node:child_process'
import * as path from 'node:path'

import {expect} from 'vitest'

export const BIN = path.resolve('bin/run.js')

/** Runs `ligo ARGS` (CI=true: no spinners); exit code, stdout and stderr. */
export function ligo(args: string[], opts: {cwd?: string} = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {encoding: 'utf8', cwd: opts.cwd, env: {...process.env, CI: 'true'}})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** Runs `ligo ARGS --json`, expects exit 0, and parses stdout. */
export function json(args: string[]) {
  const r = ligo([...args, '--json'])
  expect(r.code, r.stderr + r.stdout).toBe(0)
  return JSON.parse(r.stdout)
}
