/**
 * Shared fixtures for the reliability suite (project issue #10): a tiny prepared corpus, a tiny run config, and
 * a driver for the built CLI (bin/run.js over dist/) that can signal and kill runs at chosen moments.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {loadNative} from '../../src/compute/native.js'
import {prepareData} from '../../src/data/prepare.js'

export {prng} from '../checkpoints/helpers.js'

export const BIN = path.resolve('bin/run.js')

/** Fails with a clear message when the CLI has not been built: these tests run the built `dist/`. */
export function requireDist(): void {
  if (!fs.existsSync(path.resolve('dist/commands/train.js')))
    throw new Error('dist/ is missing: run `npm run build` before the reliability tests (they run the built CLI, bin/run.js)')
}

export function tmpDir(prefix = 'ligo-rel-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** The tiny model every CLI test trains: 1 layer, d_model 16, 2 heads, seq 16, batch 4 (~7.7k parameters). */
export const TINY_MODEL = {vocab_size: 256, n_positions: 16, n_layer: 1, d_model: 16, n_head: 2, d_ffn: 32}
export const TINY_TRAIN = {steps: 12, batch: 4, seq: 16, lr: 0.003, warmup: 2, eval_every: 0, eval_batches: 2, save_every: 1, seed: 7}

/** Writes the tiny run config as YAML (flow style) and returns its path. */
export function writeTinyConfig(dir: string, train: Record<string, unknown> = {}, name = 'tiny.yaml'): string {
  const file = path.join(dir, name)
  const flow = (o: Record<string, unknown>) => `{${Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`
  fs.writeFileSync(file, `model: ${flow(TINY_MODEL)}\ntrain: ${flow({...TINY_TRAIN, ...train})}\n`)
  return file
}

/** A small prepared data directory (three Brown files, byte tokenizer) made in-process. */
export async function tinyData(dir: string): Promise<string> {
  const out = path.join(dir, 'data')
  await prepareData({source: {kind: 'brown', files: ['ca01', 'ca02', 'cb01']}, out, valFraction: 0.34, seed: 1})
  return out
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A CLI process: its child, its output so far, and a promise of how it ended. */
export interface Running {
  child: ChildProcess
  pid: number
  done: Promise<RunResult>
  /** True once the process has exited (and been reaped). */
  exited(): boolean
}

const running = new Set<Running>()

/** SIGKILLs the CLI processes this test file started that are still running (after a failed test). */
export function killStragglers(): void {
  for (const r of running) if (!r.exited()) r.child.kill('SIGKILL')
  running.clear()
}

export function start(args: string[], opts: {cwd?: string; shellPrefix?: string} = {}): Running {
  const env = {...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', OCLIF_COLUMNS: '1000'}
  const child = opts.shellPrefix
    ? spawn('/bin/sh', ['-c', `${opts.shellPrefix} exec "$0" "$@"`, process.execPath, BIN, ...args], {cwd: opts.cwd, env})
    : spawn(process.execPath, [BIN, ...args], {cwd: opts.cwd, env})
  let stdout = ''
  let stderr = ''
  let exited = false
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      exited = true
      resolve({code, signal, stdout, stderr: plain(stderr)})
    })
  })
  const r: Running = {child, pid: child.pid!, done, exited: () => exited}
  running.add(r)
  void done.then(() => running.delete(r), () => running.delete(r))
  return r
}

/** Runs the CLI to completion. */
export function ligo(args: string[], opts: {cwd?: string; shellPrefix?: string} = {}): Promise<RunResult> {
  return start(args, opts).done
}

/** Runs several CLI invocations, at most `concurrency` at a time, keeping the order of the results. */
export async function ligoAll(argsList: string[][], concurrency = 2): Promise<RunResult[]> {
  const results: RunResult[] = new Array(argsList.length)
  let next = 0
  const worker = async () => {
    while (next < argsList.length) {
      const i = next++
      results[i] = await ligo(argsList[i])
    }
  }
  await Promise.all(Array.from({length: Math.min(concurrency, argsList.length)}, worker))
  return results
}

/** stderr as text: ANSI styling removed and oclif's wrapped ` ›   ` error lines joined back into one. */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\n *› +/g, ' ').replace(/^ *› +/gm, '').replace(/ {2,}/g, ' ')
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `pred` every `everyMs` until it is true (returns true) or `timeoutMs` passes (returns false). No limit by
 * default: callers include the process's exit in `pred`, so a loaded machine only makes the wait longer.
 */
export async function waitFor(pred: () => boolean, timeoutMs = Number.POSITIVE_INFINITY, everyMs = 2): Promise<boolean> {
  const t0 = Date.now()
  while (Date.now() - t0 < timeoutMs) {
    if (pred()) return true
    await sleep(everyMs)
  }
  return pred()
}

/** Complete JSONL rows of a metrics file (a torn last line from a killed run is skipped). */
export function metricRows(run: string): Array<{step: number; loss: number}> {
  // Read without an exists-check first: a `--force` restart deletes the file while the test polls it.
  let text: string
  try {
    text = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const rows: Array<{step: number; loss: number}> = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      rows.push(JSON.parse(line))
    } catch {
      // torn line
    }
  }
  return rows
}

/** The step recorded in a checkpoint directory's trainer.json, or undefined. */
export function trainerStep(ckptDir: string): number | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ckptDir, 'trainer.json'), 'utf8')) as {step: number}).step
  } catch {
    return undefined
  }
}

/** Names in a run directory left by a checkpoint write in progress: the temp copy and the swap names. */
export function inFlightNames(run: string): {tmp: string[]; swap: string[]} {
  let names: string[] = []
  try {
    names = fs.readdirSync(run)
  } catch {
    // not created yet
  }
  return {
    tmp: names.filter((n) => n.startsWith('.checkpoint.tmp-')),
    swap: names.filter((n) => n === 'checkpoint.new-swap' || n === 'checkpoint.old-swap'),
  }
}

/** The bytes of each file of a checkpoint directory, by name (for "left untouched" checks). */
export function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (fs.statSync(p).isFile()) out.set(name, fs.readFileSync(p))
  }
  return out
}

/** Whether the native addon loads on this machine (the `native` backend tests are skipped otherwise). */
export function nativeAvailable(): boolean {
  return loadNative().addon !== null
}
