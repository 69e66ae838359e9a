/**
 * The training-throughput benchmark behind `ligo bench` (issue #3): real training steps of the project's GPT-2
 * model, the machine's matmul ceiling measured in the same run, and the PyTorch peer (bench/peer_torch.py).
 *
 * One step is exactly what `ligo train` does per optimizer step (src/train/trainer.ts, accum = 1): a fresh
 * gradient map, `lossAndGrads` on a batch, the NaN/Inf check of every gradient, `clipGlobalNorm` at 1.0 and
 * `AdamW.update`. Batches are random tokens (the data pipeline is not what is measured). Weights come from
 * `initWeights` (SP). The reported time is the median of the timed steps after the warm-up steps.
 *
 * FLOP accounting, per token at sequence length T (L layers, width d, N_* parameter counts):
 *   - `flops_per_token`: the project's `trainFlopsPerToken` (src/train/flops.ts): 6·N_matmul + 12·L·T·A, N_matmul
 *     = the hidden matrices plus the tied readout (V·d), A = heads·head_size. What `ligo train` charges.
 *   - `flops_per_token_peer_convention`: 6·N_nonembedding + 12·L·T·d, N_nonembedding = all parameters minus the
 *     token and position tables (so biases and norms count, the tied head does not): the convention of the
 *     PyTorch peer table in docs/compute.md, so those numbers compare.
 * GFLOP/s = flops_per_token · tokens_per_s / 1e9 for each. The % of ceiling uses the project's convention.
 *
 * Library code: nothing here prints. Functions that run Python return a reason instead of throwing when
 * Python, numpy or torch is missing.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import * as os from 'node:os'
import {join} from 'node:path'

import * as tf from '@tensorflow/tfjs-core'

import {Rng} from '../data/rng.js'
import {type ModelConfig, modelConfig, schemaOf} from '../model/index.js'
import {initWeights} from '../model/init.js'
import {type Schema, numel} from '../model/schema.js'
import {AdamW} from '../optim/adamw.js'
import {clipGlobalNorm} from '../optim/clip.js'
import {OperatorLearner} from '../ligo/learn.js'
import {defaultEngine, materializeFlops} from '../ligo/materialize.js'
import {initOperator} from '../ligo/operator.js'
import {growConfig} from '../ligo/spaces.js'
import {trainFlopsPerToken} from '../train/flops.js'
import {type Batch, type Weights, lossAndGrads} from '../train/step.js'
import {PACKAGE_ROOT, loadNative} from './native.js'

// ---------------------------------------------------------------------------------------------------------
// Shapes

export interface BenchShape {
  name: string
  layers: number
  d_model: number
  heads: number
  vocab: number
  seq: number
  /** Sequences per micro-batch. */
  batch: number
  /** Micro-batches per optimizer step (gradient accumulation; default 1): a step is batch × accum × seq tokens. */
  accum?: number
  /** The model's chunked FFN and loss (model.ffn_chunks / loss_chunks: recomputed in backward; default 1, off). */
  ffn_chunks?: number
  loss_chunks?: number
}

/**
 * The presets of docs/compute.md's peer table (vocab 256, sequence 128), and the GPT-2 sizes users grow from and
 * to (issue #33): GPT-2-small 12×768 and GPT-2-medium 24×1024 at GPT-2's vocabulary, 8 × 512 tokens a step taken as
 * 8 micro-batches of one sequence (what fits beside other work on a 24 GiB machine).
 */
export const BENCH_PRESETS: Readonly<Record<'a' | 'b' | 'c' | 'd' | 'e' | 'gpt2-small' | 'gpt2-medium', BenchShape>> = {
  a: {name: 'a', layers: 4, d_model: 128, heads: 4, vocab: 256, seq: 128, batch: 16},
  b: {name: 'b', layers: 4, d_model: 256, heads: 4, vocab: 256, seq: 128, batch: 16},
  c: {name: 'c', layers: 8, d_model: 256, heads: 4, vocab: 256, seq: 128, batch: 16},
  d: {name: 'd', layers: 6, d_model: 512, heads: 8, vocab: 256, seq: 128, batch: 8},
  e: {name: 'e', layers: 12, d_model: 768, heads: 12, vocab: 256, seq: 128, batch: 4},
  'gpt2-small': {name: 'gpt2-small', layers: 12, d_model: 768, heads: 12, vocab: 50257, seq: 512, batch: 1, accum: 8},
  'gpt2-medium': {name: 'gpt2-medium', layers: 24, d_model: 1024, heads: 16, vocab: 50257, seq: 512, batch: 1, accum: 8},
}
export type PresetName = keyof typeof BENCH_PRESETS
export const PRESET_NAMES = Object.keys(BENCH_PRESETS) as PresetName[]
/** Tokens of one optimizer step. */
export function stepTokens(s: BenchShape): number {
  return s.batch * (s.accum ?? 1) * s.seq
}

/** What `--all` runs (e is slow: ~85 M parameters; the GPT-2 sizes take minutes a step). */
export const ALL_PRESETS: readonly PresetName[] = ['a', 'b', 'c', 'd']

/** The GPT-2 config of a shape (SP, tied head, n_positions = seq, d_ffn = 4·d). */
export function benchModelConfig(s: BenchShape): ModelConfig {
  return modelConfig({family: 'gpt2', vocab_size: s.vocab, n_positions: s.seq, n_layer: s.layers, d_model: s.d_model, n_head: s.heads,
    ffn_chunks: s.ffn_chunks ?? 1, loss_chunks: s.loss_chunks ?? 1}, `bench shape ${s.name}`)
}

export interface FlopCounts {
  params: number
  flops_per_token: number
  flops_per_token_peer_convention: number
}

export function flopCounts(s: BenchShape, c: ModelConfig = benchModelConfig(s), schema: Schema = schemaOf(c)): FlopCounts {
  let params = 0
  let embeddings = 0
  for (const p of schema) {
    params += numel(p.shape)
    if (p.name === 'wte.weight' || p.name === 'wpe.weight') embeddings += numel(p.shape)
  }
  return {
    params,
    flops_per_token: trainFlopsPerToken(c, schema, s.seq),
    flops_per_token_peer_convention: 6 * (params - embeddings) + 12 * s.layers * s.seq * s.d_model,
  }
}

// ---------------------------------------------------------------------------------------------------------
// Our training step

export interface StepBenchOptions {
  steps: number
  warmup: number
  seed?: number
  lr?: number
  grad_clip?: number
  /** Run one extra step under tf.profile and report the tfjs kernels' time (native fused ops are not kernels). */
  profile?: boolean
  /** Called after every step (warm-up or timed), e.g. for progress lines. */
  onStep?: (done: number, total: number, ms: number) => void
}

export interface KernelTime {
  name: string
  ms: number
  calls: number
}

export interface StepBenchResult extends BenchShape, FlopCounts {
  backend: string
  steps: number
  warmup: number
  accum: number
  /** Median of the timed steps. */
  ms_per_step: number
  ms_per_step_all: number[]
  tokens_per_s: number
  gflops: number
  gflops_peer_convention: number
  /** Median ms of each part of a step: loss+gradients (lossAndGrads, incl. its gradient copy-out loop),
   * the NaN/Inf check, global-norm clipping, AdamW. */
  breakdown_ms: {loss_and_grads: number; clip: number; adamw: number}
  loss: number
  /** Peak resident set of this process (process.resourceUsage().maxRSS) and /proc/self/status VmHWM, MiB. */
  peak_rss_mib: number
  vm_hwm_mib: number | null
  /** tfjs tensors alive after the run (a leak check: should not grow with steps). */
  tensors_alive: number
  profile?: {step_ms: number; kernel_ms: number; kernels: KernelTime[]}
}

/** A batch of uniformly random token ids (inputs, then targets, per position) for a timing run of shape `s`. */
function randomBatch(rng: Rng, s: BenchShape): Batch {
  const N = s.batch * s.seq
  const inputs = new Int32Array(N)
  const targets = new Int32Array(N)
  for (let i = 0; i < N; i++) {
    inputs[i] = rng.int(s.vocab)
    targets[i] = rng.int(s.vocab)
  }
  return {inputs, targets, batch: s.batch, seq: s.seq}
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return Number.NaN
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
}

/**
 * Runs `warmup + steps` real training steps of the GPT-2 model on the active tfjs backend (initialise it first)
 * and measures them. Peak RSS is this process's: run one shape per process for a per-shape figure.
 */
export async function benchTrainingStep(s: BenchShape, o: StepBenchOptions): Promise<StepBenchResult> {
  if (!(o.steps >= 1) || !(o.warmup >= 0)) throw new RangeError(`bench: steps ${o.steps} must be ≥ 1 and warmup ${o.warmup} ≥ 0`)
  const c = benchModelConfig(s)
  const schema = schemaOf(c)
  const counts = flopCounts(s, c, schema)
  const seed = o.seed ?? 1
  const lr = o.lr ?? 1e-3
  const clip = o.grad_clip ?? 1.0
  const weights: Weights = initWeights(schema, seed)
  const opt = new AdamW(schema, {beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1})
  const rng = new Rng(seed + 1)
  const accum = s.accum ?? 1
  const N = s.batch * s.seq
  const batch = () => randomBatch(rng, s)

  const parts = {loss_and_grads: [] as number[], clip: [] as number[], adamw: [] as number[]}
  // One optimizer step as src/train/trainer.ts runs it: `accum` micro-batches, loss and gradients averaged.
  const step = (record: boolean): {ms: number; loss: number} => {
    const micro = Array.from({length: accum}, batch)
    const t0 = performance.now()
    const grads: Weights = new Map()
    let loss = 0
    for (const b of micro) loss += lossAndGrads(c, schema, weights, b, grads, 1 / accum) / accum
    const t1 = performance.now()
    if (!Number.isFinite(loss)) throw new Error(`bench: loss is ${loss}`)
    // As the trainer: the global norm is the NaN/Inf check of the gradients (finite exactly when they all are).
    const norm = clipGlobalNorm(grads.values(), clip)
    if (!Number.isFinite(norm)) throw new Error(`bench: a gradient has NaN/Inf (global norm ${norm})`)
    const t2 = performance.now()
    opt.update(weights, grads, lr)
    const t3 = performance.now()
    if (record) {
      parts.loss_and_grads.push(t1 - t0)
      parts.clip.push(t2 - t1)
      parts.adamw.push(t3 - t2)
    }
    return {ms: t3 - t0, loss}
  }

  const total = o.warmup + o.steps
  for (let i = 0; i < o.warmup; i++) o.onStep?.(i + 1, total, step(false).ms)
  const times: number[] = []
  let loss = Number.NaN
  for (let i = 0; i < o.steps; i++) {
    const r = step(true)
    times.push(r.ms)
    loss = r.loss
    o.onStep?.(o.warmup + i + 1, total, r.ms)
  }
  const ms = median(times)
  const tokensPerS = (N * accum) / (ms / 1000)

  let profile: StepBenchResult['profile']
  if (o.profile) {
    const t0 = performance.now()
    const info = await tf.profile(() => {
      step(false)
    })
    const stepMs = performance.now() - t0
    const byName = new Map<string, KernelTime>()
    for (const k of info.kernels) {
      const e = byName.get(k.name) ?? {name: k.name, ms: 0, calls: 0}
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0
      e.calls++
      byName.set(k.name, e)
    }
    const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms)
    profile = {step_ms: stepMs, kernel_ms: kernels.reduce((n, k) => n + k.ms, 0), kernels}
  }

  return {
    ...s,
    ...counts,
    backend: tf.getBackend(),
    accum,
    steps: o.steps,
    warmup: o.warmup,
    ms_per_step: ms,
    ms_per_step_all: times,
    tokens_per_s: tokensPerS,
    gflops: (counts.flops_per_token * tokensPerS) / 1e9,
    gflops_peer_convention: (counts.flops_per_token_peer_convention * tokensPerS) / 1e9,
    breakdown_ms: {
      loss_and_grads: median(parts.loss_and_grads),
      clip: median(parts.clip),
      adamw: median(parts.adamw),
    },
    loss,
    ...peakRss(),
    tensors_alive: tf.memory().numTensors,
    ...(profile ? {profile} : {}),
  }
}

// ---------------------------------------------------------------------------------------------------------
// A LiGO operator step

export interface OperatorStepBenchResult {
  /** The source shape grown from; the grown shape is the step's BenchShape. */
  from: {layers: number; d_model: number; heads: number}
  to: BenchShape
  backend: string
  /** 'native' (the addon's tape-free materialisation) or 'tfjs' (the fallback). */
  engine: string
  accum: number
  steps: number
  warmup: number
  /** Learnable operator parameters (width M, depth coefficients). */
  operator_params: number
  grown_params: number
  /** FLOPs to build the grown weights once (materializeFlops). */
  materialize_flops: number
  ms_per_step: number
  ms_per_step_all: number[]
  tokens_per_s: number
  /** Medians of the step's parts (src/ligo/learn.ts OperatorStepTimes). */
  breakdown_ms: {materialize: number; model: number; backward: number; update: number}
  loss: number
  peak_rss_mib: number
  vm_hwm_mib: number | null
  tensors_alive: number
}

/**
 * Runs `warmup + steps` LiGO operator steps growing a random GPT-2 of shape `from` (layers, width, heads; the
 * rest as `to`) into shape `to`, exactly as `ligo grow --method ligo` takes them (src/ligo/learn.ts: materialise,
 * the grown model's loss and dL/dW over `to.accum` micro-batches, the closed-form backward, clip, AdamW), on random
 * token batches of `to`'s size. Operator init: \`--width-init auto\` (random convex maps when the width is not a
 * multiple), stacking with noise 0.03.
 */
export async function benchOperatorStep(from: {layers: number; d_model: number; heads: number}, to: BenchShape, o: StepBenchOptions):
  Promise<OperatorStepBenchResult> {
  if (!(o.steps >= 1) || !(o.warmup >= 0)) throw new RangeError(`bench: steps ${o.steps} must be ≥ 1 and warmup ${o.warmup} ≥ 0`)
  const small = benchModelConfig({...to, name: 'source', layers: from.layers, d_model: from.d_model, heads: from.heads})
  const large = growConfig(small, {width: to.d_model, depth: to.layers, heads: to.heads})
  const largeSchema = schemaOf(large)
  const seed = o.seed ?? 1
  const op = initOperator(small, large, largeSchema, {width: 'auto', depth: 'stack', depthNoise: 0.03, fullWidth: false, seed})
  const learner = new OperatorLearner(op, initWeights(schemaOf(small), seed), {depthLrMult: 1, weightDecay: 0, gradClip: o.grad_clip ?? 1,
    learnWidth: true, learnDepth: true})
  const rng = new Rng(seed + 1)
  const accum = to.accum ?? 1
  const N = to.batch * to.seq
  const batch = () => randomBatch(rng, to)
  const parts = {materialize: [] as number[], model: [] as number[], backward: [] as number[], update: [] as number[]}
  const times: number[] = []
  let loss = Number.NaN
  const total = o.warmup + o.steps
  for (let i = 0; i < total; i++) {
    const micro = Array.from({length: accum}, batch)
    const t0 = performance.now()
    const r = learner.step(micro, o.lr ?? 1e-3)
    const ms = performance.now() - t0
    if (i >= o.warmup) {
      times.push(ms)
      loss = r.loss
      for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k].push(r.ms[k])
    }
    o.onStep?.(i + 1, total, ms)
  }
  const ms = median(times)
  return {
    from, to, backend: tf.getBackend(), engine: defaultEngine(), accum, steps: o.steps, warmup: o.warmup,
    operator_params: learner.learnableCount,
    grown_params: largeSchema.reduce((n, p) => n + numel(p.shape), 0),
    materialize_flops: materializeFlops(op),
    ms_per_step: ms, ms_per_step_all: times, tokens_per_s: (N * accum) / (ms / 1000),
    breakdown_ms: {materialize: median(parts.materialize), model: median(parts.model), backward: median(parts.backward), update: median(parts.update)},
    loss, ...peakRss(), tensors_alive: tf.memory().numTensors,
  }
}

/** This process's peak RSS in MiB: getrusage's maxRSS, and VmHWM from /proc/self/status where there is one. */
export function peakRss(): {peak_rss_mib: number; vm_hwm_mib: number | null} {
  const maxRss = process.resourceUsage().maxRSS / 1024 // KiB → MiB
  let hwm: number | null = null
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) hwm = Number(m[1]) / 1024
  } catch {
    // not Linux
  }
  return {peak_rss_mib: maxRss, vm_hwm_mib: hwm}
}

// ---------------------------------------------------------------------------------------------------------
// Ceilings

export interface GemmCeiling {
  /** n×n×n float32 product, median and best GFLOP/s over ~1 s of calls. */
  n: number
  gflops: number
  gflops_best: number
}

/** The native addon's SGEMM at n³ (its own thread pool: LIGO_THREADS, default 2), or the reason it can't run. */
export function nativeGemmCeiling(n = 1024, seconds = 1): (GemmCeiling & {isa: string; threads: number}) | {error: string} {
  const {addon, reason} = loadNative()
  if (!addon) return {error: reason}
  const rng = new Rng(3)
  const A = new Float32Array(n * n).map(() => rng.next() - 0.5)
  const B = new Float32Array(n * n).map(() => rng.next() - 0.5)
  const C = new Float32Array(n * n)
  const call = () => addon.gemm(A, B, C, 1, n, n, n, false, false, 0, 0, 0, 1, 0)
  call()
  const ts: number[] = []
  const t0 = performance.now()
  while (ts.length < 5 || (performance.now() - t0) / 1000 < seconds) {
    const a = performance.now()
    call()
    ts.push((performance.now() - a) / 1000)
    if (ts.length >= 200) break
  }
  const f = 2 * n * n * n
  const info = addon.info()
  return {n, gflops: f / median(ts) / 1e9, gflops_best: f / Math.min(...ts) / 1e9, isa: info.isa, threads: info.threads}
}

/** Debian's OpenMP build of OpenBLAS; the peer and numpy run with it first on LD_LIBRARY_PATH when present. */
export const OPENBLAS_OPENMP_DIR = '/usr/lib/x86_64-linux-gnu/openblas-openmp'

/** Environment for a Python child: `threads` BLAS/OpenMP threads, the OpenMP OpenBLAS first when installed. */
function pythonEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads)}
  if (existsSync(OPENBLAS_OPENMP_DIR)) env.LD_LIBRARY_PATH = [OPENBLAS_OPENMP_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':')
  return env
}

/** Python interpreters to try, in order: the system one (Debian's numpy/torch live there), then PATH's. */
function pythons(): string[] {
  return [...new Set([...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : []), 'python3'])]
}

// Reports which BLAS the process mapped (what numpy's matmul really calls).
const PY_BLAS = `
import os
def _blas():
    libs = set()
    try:
        for line in open('/proc/self/maps'):
            parts = line.split()
            if len(parts) >= 6 and any(k in os.path.basename(parts[-1]) for k in ('blas', 'mkl', 'blis')):
                libs.add(parts[-1])
    except OSError:
        pass
    return sorted(libs)
`

const NUMPY_GEMM = `${PY_BLAS}
import json, sys, time
import numpy as np
n = int(sys.argv[1]); secs = float(sys.argv[2])
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
a @ b
ts = []; t0 = time.perf_counter()
while len(ts) < 5 or time.perf_counter() - t0 < secs:
    s = time.perf_counter(); a @ b; ts.append(time.perf_counter() - s)
    if len(ts) >= 200: break
ts.sort(); m = len(ts)
med = ts[m // 2] if m % 2 else 0.5 * (ts[m // 2 - 1] + ts[m // 2])
print(json.dumps({'gflops': 2.0 * n ** 3 / med / 1e9, 'gflops_best': 2.0 * n ** 3 / ts[0] / 1e9,
                  'numpy': np.__version__, 'blas_libs': _blas()}))
`

export interface NumpyCeiling extends GemmCeiling {
  python: string
  numpy: string
  /** The BLAS shared objects numpy had loaded. */
  blas_libs: string[]
  threads: number
}

/** numpy's n³ float32 matmul with `threads` BLAS threads (the machine's ceiling), or why it could not run. */
export function numpyCeiling(n = 1024, threads = 2, seconds = 1): NumpyCeiling | {error: string} {
  const why: string[] = []
  for (const py of pythons()) {
    const r = spawnSync(py, ['-c', NUMPY_GEMM, String(n), String(seconds)], {encoding: 'utf8', env: pythonEnv(threads), timeout: 120_000})
    if (r.status === 0) {
      try {
        const j = JSON.parse(lastLine(r.stdout)) as {gflops: number; gflops_best: number; numpy: string; blas_libs: string[]}
        return {n, python: py, threads, ...j}
      } catch {
        why.push(`${py}: unreadable output`)
        continue
      }
    }
    why.push(`${py}: ${r.error ? r.error.message : firstErrorLine(r.stderr)}`)
  }
  return {error: `numpy did not run (${why.join('; ')})`}
}

// ---------------------------------------------------------------------------------------------------------
// The PyTorch peer

export const PEER_SCRIPT = join(PACKAGE_ROOT, 'bench', 'peer_torch.py')
export const TORCH_INSTALL_HINT = 'install the PyTorch peer with `apt-get install -y python3-torch libopenblas0-openmp` ' +
  '(Debian/Ubuntu; without the OpenMP OpenBLAS torch falls back to the reference BLAS, ~35× slower, not a fair peer) ' +
  'or `pip install torch`, then run `npx ligo bench --peer torch` again'

export interface TorchInfo {
  python: string
  torch: string
}

/** The interpreter that imports torch, or the reason none does. */
export function findTorch(): TorchInfo | {error: string} {
  if (!existsSync(PEER_SCRIPT)) return {error: `${PEER_SCRIPT} is missing (it ships in the repository's bench/, not in the npm package)`}
  const why: string[] = []
  for (const py of pythons()) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], {encoding: 'utf8', env: pythonEnv(1), timeout: 120_000})
    if (r.status === 0) return {python: py, torch: r.stdout.trim()}
    why.push(`${py}: ${r.error ? r.error.message : firstErrorLine(r.stderr)}`)
  }
  return {error: `PyTorch is not importable (${why.join('; ')})`}
}

export interface PeerResult {
  torch: string
  python: string
  threads: number
  blas: string
  blas_libs: string[]
  params: number
  ms_per_step: number
  ms_per_step_all: number[]
  tokens_per_s: number
  peak_rss_mib: number
  loss: number
}

/** One shape through bench/peer_torch.py in a fresh Python process (so its peak RSS is this shape's). */
export function runTorchPeer(t: TorchInfo, s: BenchShape, o: {steps: number; warmup: number; threads?: number}): PeerResult | {error: string} {
  const threads = o.threads ?? 2
  const args = [PEER_SCRIPT, '--layers', s.layers, '--d-model', s.d_model, '--heads', s.heads, '--vocab', s.vocab, '--seq', s.seq,
    '--batch', s.batch, '--accum', s.accum ?? 1, '--steps', o.steps, '--warmup', o.warmup, '--threads', threads].map(String)
  const r = spawnSync(t.python, args, {encoding: 'utf8', env: pythonEnv(threads), timeout: 3_600_000, maxBuffer: 16 << 20})
  if (r.status !== 0) return {error: `peer_torch.py failed: ${r.error ? r.error.message : firstErrorLine(r.stderr, true)}`}
  try {
    return {python: t.python, ...(JSON.parse(lastLine(r.stdout)) as Omit<PeerResult, 'python'>)}
  } catch {
    return {error: `peer_torch.py printed no JSON: ${lastLine(r.stdout).slice(0, 200)}`}
  }
}

/** The torch.mm n³ GFLOP/s of the peer's own BLAS (for the record), or the reason. */
export function torchGemmCeiling(t: TorchInfo, n = 1024, threads = 2): (GemmCeiling & {blas: string; blas_libs: string[]}) | {error: string} {
  const r = spawnSync(t.python, [PEER_SCRIPT, '--gemm', String(n), '--threads', String(threads)], {encoding: 'utf8', env: pythonEnv(threads),
    timeout: 300_000})
  if (r.status !== 0) return {error: `peer_torch.py --gemm failed: ${r.error ? r.error.message : firstErrorLine(r.stderr, true)}`}
  try {
    return JSON.parse(lastLine(r.stdout)) as GemmCeiling & {blas: string; blas_libs: string[]}
  } catch {
    return {error: 'peer_torch.py --gemm printed no JSON'}
  }
}

// ---------------------------------------------------------------------------------------------------------
// Machine

export interface MachineInfo {
  cpu: string
  cores: number
  node: string
  date: string
  platform: string
  memory_gib: number
  /** 1-minute load average when the run started (the machines are shared: a high load means noisy timings). */
  loadavg_1m: number
  native: {isa: string; threads: number} | null
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus()
  const addon = loadNative().addon
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    date: new Date().toISOString(),
    platform: `${process.platform}-${process.arch}`,
    memory_gib: os.totalmem() / 2 ** 30,
    loadavg_1m: os.loadavg()[0],
    native: addon ? addon.info() : null,
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n')
  return lines[lines.length - 1] ?? ''
}

function firstErrorLine(stderr: string, last = false): string {
  const lines = (stderr ?? '').trim().split('\n').filter(Boolean)
  if (lines.length === 0) return 'no output'
  return (last ? lines[lines.length - 1] : lines.find((l) => /Error/.test(l)) ?? lines[lines.length - 1]).trim()
}
