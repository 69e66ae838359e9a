/**
 * Interruption and resume through the built CLI (project issue #10): a run SIGKILLed at random moments, including
 * in the middle of a checkpoint write, and resumed each time ends with weights byte-identical to an uninterrupted
 * run's; SIGINT and SIGTERM stop at a step boundary after saving a checkpoint; a second run into a directory in use
 * is refused with the holder's pid. `npm run build` must have run first.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {parseSafetensors} from '../../src/checkpoints/safetensors.js'
import {
  type RunResult, inFlightNames, ligo, metricRows, nativeAvailable, prng, requireDist, sleep, start, tinyData, tmpDir,
  killStragglers, trainerStep, waitFor, writeTinyConfig,
} from './helpers.js'

const N = 12 // steps of every run here (the tiny config's train.steps)
const HAS_NATIVE = nativeAvailable()

let base: string
let data: string
let cfg: string

beforeAll(async () => {
  requireDist()
  base = tmpDir('ligo-interrupt-')
  data = await tinyData(base)
  cfg = writeTinyConfig(base)
})

afterAll(() => {
  killStragglers()
  if (base) fs.rmSync(base, {recursive: true, force: true})
})

interface Final {
  model: Buffer
  optimizer: Buffer
  losses: number[]
}

function finalState(run: string): Final {
  const ck = path.join(run, 'checkpoint')
  return {
    model: fs.readFileSync(path.join(ck, 'model.safetensors')),
    optimizer: fs.readFileSync(path.join(ck, 'optimizer.safetensors')),
    losses: metricRows(run).map((r) => r.loss),
  }
}

const references = new Map<string, Promise<Final>>()

/** The uninterrupted N-step run on `backend` (started once, shared by the tests). */
function reference(backend: string): Promise<Final> {
  let ref = references.get(backend)
  if (!ref) {
    const out = path.join(base, `reference-${backend}`)
    ref = ligo(['train', '-c', cfg, '-d', data, '-o', out, '--backend', backend]).then((r) => {
      if (r.code !== 0) throw new Error(`the reference run failed (exit ${r.code}, signal ${r.signal}): ${r.stderr}`)
      return finalState(out)
    })
    references.set(backend, ref)
  }
  return ref
}

function expectSameFinal(got: Final, want: Final): void {
  expect(got.losses).toEqual(want.losses)
  for (const file of ['model', 'optimizer'] as const) {
    if (got[file].equals(want[file])) continue
    // Say which tensors differ (decoded as Float32Array), then fail on the bytes.
    const a = parseSafetensors(got[file], file).tensors
    const b = parseSafetensors(want[file], file).tensors
    const differ = [...b.keys()].filter((k) => !a.has(k) || Buffer.compare(Buffer.from(a.get(k)!.data.buffer), Buffer.from(b.get(k)!.data.buffer)) !== 0)
    expect(differ, `${file}.safetensors: tensors that differ from the uninterrupted run`).toEqual([])
    expect(got[file].equals(want[file]), `${file}.safetensors bytes`).toBe(true)
  }
}

type KillMode = 'after-row' | 'temp-write' | 'swap' | 'random'

interface KillRecord {
  mode: KillMode
  /** Steps in metrics.jsonl and in the committed checkpoint when the process died. */
  rows: number
  ckptStep: number | undefined
  /** What was on disk at that moment: a temp checkpoint copy being written, a half-done directory swap. */
  hit: 'temp-write' | 'swap' | 'between-writes'
}

/**
 * Trains N steps on `backend`, SIGKILLing the process `kills` times at seeded moments and resuming it each time;
 * returns the final state and what each kill hit.
 */
async function killAndResume(backend: string, seed: number, kills: number): Promise<{final: Final; log: KillRecord[]; run: string}> {
  const rand = prng(seed)
  const run = path.join(base, `killed-${backend}`)
  const modes: KillMode[] = ['temp-write', 'random', 'swap', 'after-row']
  const log: KillRecord[] = []
  let lastCkpt = 0
  let fresh = true
  for (let k = 0; k < kills + 1; k++) {
    const args = fresh
      ? ['train', '-c', cfg, '-d', data, '-o', run, '--backend', backend, ...(k > 0 ? ['--force'] : [])]
      : ['train', '--resume', run, '--backend', backend]
    const p = start(args)
    if (k === kills) {
      const r = await p.done
      expect(r.code, `final resume: ${r.stderr}`).toBe(0)
      break
    }
    const mode = modes[k % modes.length]
    const leftoverTmp = new Set(inFlightNames(run).tmp)
    // Wait for the metrics to reach a row past the checkpoint (after a resume, rows the killed process logged past
    // its checkpoint count too: the kill may then land during start-up or recovery), then pick the moment.
    const target = Math.min(N - 3, lastCkpt + 1 + Math.floor(rand() * 3))
    await waitFor(() => p.exited() || metricRows(run).length >= target, Number.POSITIVE_INFINITY, 5)
    // Watching for a save in progress gives up two steps before the end, so the run is always killed before it ends.
    const late = () => p.exited() || metricRows(run).length >= N - 1
    if (mode === 'temp-write') await waitFor(() => late() || inFlightNames(run).tmp.some((n) => !leftoverTmp.has(n)), 5000, 1)
    else if (mode === 'swap') await waitFor(() => late() || inFlightNames(run).swap.length > 0, 5000, 1)
    else if (mode === 'random') await sleep(Math.floor(rand() * 120))
    if (p.exited()) throw new Error(`the run finished before kill ${k} (${mode}); the test needs a longer run`)
    p.child.kill('SIGKILL')
    const r: RunResult = await p.done
    expect(r.signal).toBe('SIGKILL')

    const names = inFlightNames(run)
    const hit = names.swap.length > 0 ? 'swap' : names.tmp.some((n) => !leftoverTmp.has(n)) ? 'temp-write' : 'between-writes'
    const rows = metricRows(run).length
    // The last complete checkpoint is intact and findable whatever the moment (read-only resolution, no lock).
    let ckptStep: number | undefined
    try {
      const ck = loadCheckpoint(run, {optimizer: true})
      ckptStep = ck.trainer?.step
      expect(ck.optimizer?.size).toBeGreaterThan(0)
    } catch (error) {
      // Only possible if no checkpoint was ever committed: killed before or during the first save.
      expect(String(error)).toMatch(/not a checkpoint/)
      expect(lastCkpt).toBe(0)
    }
    if (ckptStep !== undefined) {
      expect(ckptStep).toBeGreaterThanOrEqual(lastCkpt) // never rolls back past a committed checkpoint
      expect(ckptStep).toBeLessThanOrEqual(rows) // a step's metrics row is written before its checkpoint
      lastCkpt = ckptStep
    }
    log.push({mode, rows, ckptStep, hit})
    // Killed before the first checkpoint, nothing was lost: --resume starts the run again from its run.json (which
    // every kill leaves, since the metrics already had a row), so every round after the first resumes.
    if (ckptStep === undefined) expect(fs.existsSync(path.join(run, 'run.json'))).toBe(true)
    fresh = false
  }
  return {final: finalState(run), log, run}
}

function summary(log: KillRecord[]): string {
  return log.map((l) => `${l.mode}@row${l.rows}/ckpt${l.ckptStep ?? '-'}:${l.hit}`).join(' ')
}

let killLogCpu: KillRecord[] = []
let killRunCpu = ''

describe('SIGKILL at random moments, then --resume', () => {
  it('cpu backend: 4 kills (some mid checkpoint write) and resumes end byte-identical to an uninterrupted run', async () => {
    const ref = reference('cpu') // runs alongside the killed run
    const {final, log, run} = await killAndResume('cpu', 0x5eed1, 4)
    killLogCpu = log
    killRunCpu = run
    console.log(`[reliability] cpu kills: ${summary(log)}`)
    expect(log).toHaveLength(4)
    // At least one kill landed while a checkpoint was being written (temp copy or directory swap).
    expect(log.some((l) => l.hit !== 'between-writes'), summary(log)).toBe(true)
    expectSameFinal(final, await ref)
    expect(metricRows(run).map((r) => r.step)).toEqual(Array.from({length: N}, (_, i) => i + 1))
    expect(fs.existsSync(path.join(run, '.lock'))).toBe(false)
  }, 600_000) // a dozen CLI processes: ~40 s on 2 idle cores, several minutes on a loaded machine

  it.skipIf(!HAS_NATIVE)('native backend: 3 kills and resumes end byte-identical to an uninterrupted native run', async () => {
    const ref = await reference('native')
    // The native backend is deterministic run to run, or nothing below could hold.
    const again = path.join(base, 'reference-native-2')
    expect((await ligo(['train', '-c', cfg, '-d', data, '-o', again, '--backend', 'native'])).code).toBe(0)
    expectSameFinal(finalState(again), ref)
    const {final, log} = await killAndResume('native', 0x5eed2, 3)
    console.log(`[reliability] native kills: ${summary(log)}`)
    expectSameFinal(final, ref)
  })

  // Known bug (src/train/trainer.ts, see the report): a save killed while writing its temp copy leaves
  // OUT/.checkpoint.tmp-<pid>-<time>/ (a whole checkpoint) behind for good; resume should remove it under the lock.
  it('leaves no stray temp checkpoint copies behind once the run has been resumed', () => {
    expect(killLogCpu.some((l) => l.hit === 'temp-write')).toBe(true)
    expect(inFlightNames(killRunCpu).tmp).toEqual([])
  })
})

let sigtermCode: number | null = null
let plainContender: RunResult | undefined
let holderPid = 0

describe('SIGINT and SIGTERM', () => {
  it('SIGINT: exit 130, a checkpoint at the step it stopped, and --resume continues bit-for-bit', async () => {
    const ref = reference('cpu')
    const run = path.join(base, 'sigint')
    const p = start(['train', '-c', cfg, '-d', data, '-o', run, '--backend', 'cpu'])
    await waitFor(() => p.exited() || metricRows(run).length >= 3)
    expect(p.exited()).toBe(false)
    p.child.kill('SIGINT')
    const r = await p.done
    expect(r.code, r.stderr).toBe(130)
    const m = /stopped at step (\d+)\/12; checkpoint saved in .*; continue with: npx ligo train --resume/.exec(r.stderr)
    expect(m, r.stderr).not.toBeNull()
    const stoppedAt = Number(m![1])
    expect(stoppedAt).toBeGreaterThanOrEqual(3)
    expect(stoppedAt).toBeLessThan(N)
    expect(trainerStep(path.join(run, 'checkpoint'))).toBe(stoppedAt)
    expect(metricRows(run).map((x) => x.step)).toEqual(Array.from({length: stoppedAt}, (_, i) => i + 1))
    expect(fs.existsSync(path.join(run, '.lock'))).toBe(false)
    expect(inFlightNames(run)).toEqual({tmp: [], swap: []})

    const resumed = await ligo(['train', '--resume', run, '--backend', 'cpu'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(new RegExp(`resuming [0-9.k]+ parameters on cpu: step ${stoppedAt}/12`))
    expectSameFinal(finalState(run), await ref)
  })

  it('a second run into a directory in use is refused (exit 2, holder pid named); SIGTERM then stops the first with a checkpoint', async () => {
    const run = path.join(base, 'locked')
    const holder = start(['train', '-c', cfg, '-d', data, '-o', run, '--backend', 'cpu', '--steps', '400', '--json'])
    holderPid = holder.pid
    await waitFor(() => holder.exited() || (trainerStep(path.join(run, 'checkpoint')) ?? 0) >= 1)
    expect(holder.exited()).toBe(false)
    const [plain, forced, resumed] = await Promise.all([
      ligo(['train', '-c', cfg, '-d', data, '-o', run, '--backend', 'cpu']),
      ligo(['train', '-c', cfg, '-d', data, '-o', run, '--backend', 'cpu', '--force']),
      ligo(['train', '--resume', run, '--backend', 'cpu']),
    ])
    plainContender = plain
    expect(holder.exited()).toBe(false)
    expect(plain.code).toBe(2)
    expect(plain.stderr).toMatch(/already exists|locked/)
    for (const r of [forced, resumed]) {
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toContain(`${run} is locked by another ligo run: pid ${holder.pid}`)
    }

    holder.child.kill('SIGTERM')
    const r = await holder.done
    expect(r.signal, 'a graceful exit, not death by the signal').toBeNull()
    sigtermCode = r.code
    expect([130, 143]).toContain(r.code)
    const out = JSON.parse(r.stdout) as {interrupted: boolean; step: number}
    expect(out.interrupted).toBe(true)
    expect(trainerStep(path.join(run, 'checkpoint'))).toBe(out.step)
    // The contenders changed nothing: the holder logged every step once, in order.
    expect(metricRows(run).map((x) => x.step)).toEqual(Array.from({length: out.step}, (_, i) => i + 1))
    expect(fs.existsSync(path.join(run, '.lock'))).toBe(false)

    // Resumable: extend it by two steps.
    const more = await ligo(['train', '--resume', run, '--backend', 'cpu', '--steps', String(out.step + 2), '--json'])
    expect(more.code, more.stderr).toBe(0)
    expect(JSON.parse(more.stdout)).toMatchObject({step: out.step + 2, interrupted: false})
    expect(metricRows(run).map((x) => x.step)).toEqual(Array.from({length: out.step + 2}, (_, i) => i + 1))
  })

  // Known bug (src/commands/train.ts sets process.exitCode = 130 for any stop signal; see the report).
  it('SIGTERM exits with 143', () => {
    expect(sigtermCode).toBe(143)
  })

  // Known gap (src/train/trainer.ts checks "output exists" before the lock; see the report): without --force the
  // second run is told to pass --force rather than that the directory is in use by pid N.
  it('a concurrent fresh run without --force names the lock holder', () => {
    expect(plainContender?.stderr).toContain(`pid ${holderPid}`)
  })
})
