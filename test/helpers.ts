/** Shared fixtures: a tiny model config, a tiny prepared corpus, temp dirs. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'

import {quietCpuBanner} from '../src/compute/backend.js'
import {prepareData} from '../src/data/prepare.js'
import {type RunConfig, resolveRunConfig} from '../src/train/config.js'
import {type MetricsRow, train} from '../src/train/trainer.js'

export function tmpDir(prefix = 'ligo-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** The reference backend: exact, deterministic tfjs cpu kernels. */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu')
  await tf.ready()
  quietCpuBanner()
}

export const TINY_MODEL = {vocab_size: 256, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2, d_ffn: 32}

export function tinyRun(train: Record<string, unknown> = {}, model: Record<string, unknown> = {}): RunConfig {
  return resolveRunConfig({
    model: {...TINY_MODEL, ...model},
    train: {steps: 6, batch: 4, seq: 16, lr: 0.003, warmup: 2, eval_every: 0, eval_batches: 2, save_every: 0, seed: 7, ...train},
  })
}

let brownSmall: string | undefined
/** A few Brown files prepared once per test file (~60k tokens). */
export async function smallBrown(): Promise<string> {
  if (brownSmall) return brownSmall
  const dir = path.join(tmpDir('ligo-data-'), 'brown')
  await prepareData({source: {kind: 'brown', files: ['ca01', 'ca02', 'ca03', 'ca04', 'cb01', 'cb02', 'cc01', 'cd01']}, out: dir, valFraction: 0.25, seed: 1})
  brownSmall = dir
  return dir
}

/** A tiny source checkpoint trained on `data` with tinyRun's train config overridden by `overrides`; returns its directory. */
export async function trainedSource(data: string, overrides: Record<string, unknown>): Promise<string> {
  const dir = path.join(tmpDir(), 'small')
  await train({config: tinyRun(overrides), dataDir: data, outDir: dir})
  return dir
}

/** The rows of a finished run's metrics.jsonl. */
export function runMetrics(dir: string): MetricsRow[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
}

/**
 * Trains tinyRun(trainCfg, model) on smallBrown() and returns the number of logged steps and the mean training loss
 * of the first and the last three (the families' "lowers the loss in a few steps" tests).
 */
export async function firstAndLastLoss(trainCfg: Record<string, unknown>, model: Record<string, unknown>): Promise<{steps: number; first: number; last: number}> {
  const out = path.join(tmpDir(), 'run')
  await train({config: tinyRun(trainCfg, model), dataDir: await smallBrown(), outDir: out})
  const rows = runMetrics(out)
  const mean = (xs: {loss: number}[]) => xs.reduce((a, m) => a + m.loss, 0) / xs.length
  return {steps: rows.length, first: mean(rows.slice(0, 3)), last: mean(rows.slice(-3))}
}

/**
 * max |actual − reference| / max |reference| over all values (flat arrays or rows of them): the relative error the
 * parity tests bound. 0 when both are all zeros; Infinity when only the reference is.
 */
export function relErr(actual: ArrayLike<number> | readonly ArrayLike<number>[], reference: ArrayLike<number> | readonly ArrayLike<number>[]): number {
  const a = flat(actual)
  const b = flat(reference)
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} and ${b.length}`)
  let d = 0
  let m = 0
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]))
    m = Math.max(m, Math.abs(b[i]))
  }
  return d === 0 ? 0 : d / m
}

function flat(x: ArrayLike<number> | readonly ArrayLike<number>[]): ArrayLike<number> {
  if (x.length === 0 || typeof x[0] === 'number') return x as ArrayLike<number>
  return (x as readonly ArrayLike<number>[]).flatMap((row) => Array.from(row))
}
