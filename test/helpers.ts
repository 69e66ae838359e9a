/** Shared fixtures: a tiny model config, a tiny prepared corpus, temp dirs. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'

import {quietCpuBanner} from '../src/compute/backend.js'
import {prepareData} from '../src/data/prepare.js'
import {type RunConfig, resolveRunConfig} from '../src/train/config.js'

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
