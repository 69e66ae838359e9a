/**
 * Run-directory edges from the issue #31 audit: a run SIGKILLed before its first checkpoint (left: .lock,
 * metrics.jsonl, run.json) is started again by `--resume` (nothing was lost) and ends where an uninterrupted run
 * does, also when it started from a checkpoint; re-running the original command says so; `train -o FILE` is bad
 * input (exit 2); `data prepare` onto a full disk gives the project's ENOSPC message.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, killStragglers, ligo, metricRows, plain, requireDist, start, tinyData, tmpDir, waitFor, writeTinyConfig} from './helpers.js'

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

describe('a run killed before its first checkpoint', () => {
  it('--resume starts it again and ends where an uninterrupted run does; the original command points to --resume', async () => {
    const run = path.join(base, 'killed')
    await killBeforeFirstCheckpoint(['-c', cfg, '-d', data, '--steps', '400'], run)

    const again = await ligo(['train', '-c', cfg, '-d', data, '-o', run, '--steps', '4', '--backend', 'cpu'])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain(`${run} already exists: it holds a run stopped before its first checkpoint (nothing was saved); start it again with \`npx ligo train --resume ${run}\`, or pass --force`)

    const resumed = await ligo(['train', '--resume', run, '--steps', '4', '--backend', 'cpu'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toContain(`${run} was stopped before its first checkpoint, so nothing was lost: starting it again`)
    expect(resumed.stdout).toMatch(/^done: 4 steps/m)
    expect(metricRows(run).map((r) => r.step)).toEqual([1, 2, 3, 4])

    const straight = path.join(base, 'straight')
    const s = await ligo(['train', '-c', cfg, '-d', data, '-o', straight, '--steps', '4', '--backend', 'cpu'])
    expect(s.code, s.stderr).toBe(0)
    expect(weights(run).equals(weights(straight))).toBe(true)
    expect(metricRows(run).map((r) => r.loss)).toEqual(metricRows(straight).map((r) => r.loss))
  })

  it('one started from a checkpoint restarts from that checkpoint (run.json records it)', async () => {
    const src = path.join(base, 'src')
    const made = await ligo(['train', '-c', cfg, '-d', data, '-o', src, '--steps', '2', '--backend', 'cpu'])
    expect(made.code, made.stderr).toBe(0)
    const run = path.join(base, 'from-killed')
    await killBeforeFirstCheckpoint([src, '-d', data, '--steps', '400', '--save-every', '0', '--lr', '0.002'], run)
    expect(JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'))).toMatchObject({init_from: path.join(src, 'checkpoint'), data})
    const resumed = await ligo(['train', '--resume', run, '--steps', '3', '--backend', 'cpu'])
    expect(resumed.code, resumed.stderr).toBe(0)
    const straight = path.join(base, 'from-straight')
    const s = await ligo(['train', src, '-d', data, '-o', straight, '--steps', '3', '--save-every', '0', '--lr', '0.002', '--backend', 'cpu'])
    expect(s.code, s.stderr).toBe(0)
    expect(weights(run).equals(weights(straight))).toBe(true)
  })
})

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

/**
 * Runs `ligo ARGS` in a private mount namespace with a `kib` KiB tmpfs at `mountAt` (gone when it exits);
 * `left` lists what the command left in `mountAt/data`.
 */
function ligoOnTinyDisk(mountAt: string, kib: number, args: string[]) {
  fs.mkdirSync(mountAt, {recursive: true})
  const script = `mount -t tmpfs -o size=${kib}k tmpfs "$0" || exit 99; "$@"; rc=$?; echo "LEFT:$(ls -A "$0/data" | tr '\\n' ' ')"; exit $rc`
  const r = spawnSync('unshare', ['-m', '/bin/sh', '-c', script, mountAt, process.execPath, BIN, ...args], {
    encoding: 'utf8', env: {...process.env, CI: 'true', NO_COLOR: '1', OCLIF_COLUMNS: '1000'}, timeout: 120_000,
  })
  return {code: r.status, left: /LEFT:(.*)/.exec(r.stdout)?.[1].trim().split(/\s+/).filter(Boolean), stderr: plain(r.stderr ?? '')}
}

/** Root and util-linux's unshare: a private tmpfs can be mounted (as on this project's machines). */
const canMountTmpfs = process.getuid?.() === 0 && spawnSync('unshare', ['-m', '/bin/sh', '-c', 'mount -t tmpfs -o size=4k tmpfs /mnt']).status === 0

describe('ligo data prepare on a full disk', () => {
  it.skipIf(!canMountTmpfs)('says the disk is full (ENOSPC), names the file and leaves no partial files (exit 1)', () => {
    const src = path.join(base, 'texts') // 20 documents, ~200 KB of tokens: more than the 64 KiB disk
    fs.mkdirSync(src)
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, `doc${i}.txt`), `Document ${i}: ${'lorem ipsum dolor sit amet '.repeat(200)}`)
    const disk = path.join(base, 'disk')
    const out = path.join(disk, 'data')
    const r = ligoOnTinyDisk(disk, 64, ['data', 'prepare', src, '-o', out])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`cannot write ${out}/(train|val)\\.bin: the disk is full \\(ENOSPC\\); free some space and run again`))
    expect(r.stderr).not.toMatch(/ENOSPC: no space left on device, write/)
    expect(r.left).toEqual([]) // the temporary token files were removed; no meta.json
    // with room, the same command works
    const ok = ligoOnTinyDisk(disk, 4096, ['data', 'prepare', src, '-o', out])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.left?.sort()).toEqual(['meta.json', 'train.bin', 'val.bin'])
  })
})
