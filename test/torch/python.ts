/**
 * The PyTorch companion (python/ligo_torch) from the tests: find a Python that imports torch, run its scripts.
 * Order: $LIGO_PYTHON, then `python3` on PATH, then /usr/bin/python3 (Debian's python3-torch). Where none imports
 * torch the torch tests are skipped with the reason printed (CI installs python3-torch: .ci/run).
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {Rng} from '../../src/data/rng.js'
import type {Schema} from '../../src/model/schema.js'
import {numel} from '../../src/model/schema.js'

export const PYTHON_DIR = path.resolve('python')
export const TRAIN_PY = path.join(PYTHON_DIR, 'ligo_torch', 'train.py')

export interface TorchPython {
  python?: string
  /** Why the torch tests are skipped (when `python` is undefined). */
  reason: string
  transformers: boolean
}

let found: TorchPython | undefined

export function torchPython(): TorchPython {
  if (found) return found
  const tried: string[] = []
  for (const py of [process.env.LIGO_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p))) {
    const r = spawnSync(py, ['-c', 'import torch, numpy; print(torch.__version__)'], {encoding: 'utf8', timeout: 600_000})
    if (r.status === 0) {
      const tf = spawnSync(py, ['-c', 'import transformers'], {encoding: 'utf8', timeout: 600_000})
      found = {python: py, reason: `torch ${r.stdout.trim()} at ${py}`, transformers: tf.status === 0}
      return found
    }
    tried.push(`${py}: ${(r.error?.message ?? r.stderr.trim().split('\n').at(-1)) || `exit ${r.status}`}`)
  }
  found = {reason: `no Python with torch (tried ${tried.join('; ')}); set LIGO_PYTHON or install python3-torch`, transformers: false}
  return found
}

/** `describe` when torch is importable, else `describe.skip` after printing why. */
export function skipReason(): string | undefined {
  const t = torchPython()
  if (t.python) return undefined
  console.warn(`[test/torch] skipped: ${t.reason}`)
  return t.reason
}

export interface PyResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `python ARGS` with python/ on PYTHONPATH. `minimal`: force the companion's own modules (no transformers). */
export function py(args: string[], opts: {minimal?: boolean; timeout?: number; cwd?: string} = {}): PyResult {
  const t = torchPython()
  if (!t.python) throw new Error(t.reason)
  const env: NodeJS.ProcessEnv = {...process.env, PYTHONPATH: PYTHON_DIR, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1'}
  if (opts.minimal) env.LIGO_TORCH_MINIMAL = '1'
  const r = spawnSync(t.python, args, {encoding: 'utf8', env, timeout: opts.timeout ?? 900_000, cwd: opts.cwd})
  return {code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '')}
}

/** Runs a `python -m ligo_torch.tool` command, expects exit 0 and returns its JSON line. */
export function tool(args: string[], opts: {minimal?: boolean} = {}): Record<string, any> {
  const r = py(['-m', 'ligo_torch.tool', ...args], opts)
  if (r.code !== 0) throw new Error(`ligo_torch.tool ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
}

/**
 * Weights far from init, so every tensor matters to the logits: matrices N(0, std), gains 1 + N(0, 0.2), biases
 * N(0, 0.2).
 */
export function randomWeights(schema: Schema, seed: number, std = 0.3): Map<string, Float32Array> {
  const rng = new Rng(seed)
  const out = new Map<string, Float32Array>()
  for (const p of schema) {
    const [mean, s] = p.role === 'gain' ? [1, 0.2] : p.role === 'bias' ? [0, 0.2] : [0, std]
    out.set(p.name, Float32Array.from({length: numel(p.shape)}, () => mean + s * rng.normal()))
  }
  return out
}

/** A raw little-endian float32 file as a Float32Array. */
export function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file)
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}
