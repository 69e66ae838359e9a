/**
 * The training loop: AdamW, CAME or Adafactor (src/optim/index.ts) with warmup + decay, global-norm clipping,
 * gradient accumulation, periodic evaluation, a JSONL metrics log, atomic checkpoints, and exact resume.
 *
 * Determinism: weights are initialised from the seed; the batch at (step, micro-batch) is a pure function of the
 * seed (src/data/batches.ts); the schedule is a pure function of the step. A resumed run therefore continues
 * bit-for-bit as if it had never stopped: the checkpoint holds the weights, the optimizer moments and the step.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {appendLineDurable, ensureOutputDir, ioError, recoverDir, resolveCommittedDir, writeFileAtomic} from '../checkpoints/atomic.js'
import {
  type Checkpoint, type CheckpointMeta, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type TrainerState, loadCheckpoint, saveCheckpoint,
} from '../checkpoints/checkpoint.js'
import {acquireLock} from '../checkpoints/lock.js'
import {BatchSampler} from '../data/batches.js'
import {type DataDir, checkVocab, loadDataDir} from '../data/prepare.js'
import {DivergenceError, FileFormatError, InputError, OutputExistsError, preview} from '../errors.js'
import {modelConfig, schemaOf, unusedParams} from '../model/index.js'
import type {ParamSpec} from '../model/schema.js'
import {initWeights} from '../model/init.js'
import {msgAdvance} from '../model/msg.js'
import {initStds, lrMultipliers, wdMultipliers} from '../mup/index.js'
import {makeOptimizer} from '../optim/index.js'
import {clipGlobalNorm} from '../optim/clip.js'
import {lrAt} from '../optim/schedule.js'
import {OPTIMIZER_KEYS, type RunConfig, optimizerUsed, trainConfig} from './config.js'
import {type EvalResult, evaluate} from './eval.js'
import {trainFlopsPerToken} from './flops.js'
import {type Weights, lossAndGrads} from './step.js'

export interface MetricsRow {
  step: number
  tokens: number
  flops: number
  loss: number
  lr: number
  grad_norm: number
  tokens_per_s: number
  elapsed_s: number
  val_loss?: number
  val_bpb?: number
}

export type TrainEvent =
  | {kind: 'start'; step: number; steps: number; params: number; trainable: number; flopsPerToken: number; resumed: boolean}
  | {kind: 'step'; row: MetricsRow; steps: number; etaS: number}
  | {kind: 'eval'; step: number; result: EvalResult}
  | {kind: 'save'; step: number; dir: string}

export interface TrainJob {
  config: RunConfig
  dataDir: string
  outDir: string
  /** Continue the run in outDir from its checkpoint. */
  resume?: boolean
  /**
   * With resume: start a fresh optimizer state instead of loading the saved one. The optimizer and its settings
   * (OPTIMIZER_KEYS) then come from `config.train` (they may name another optimizer); weights, step, schedule
   * and data order continue.
   */
  resetOptimizer?: boolean
  /** Overwrite a non-empty outDir. */
  force?: boolean
  /** Start from these weights instead of a fresh init (e.g. a grown checkpoint). */
  from?: Checkpoint
  /** Free-form provenance recorded in every checkpoint (backend, command line, source checkpoint...). */
  provenance?: Record<string, unknown>
  /** Abort to stop at the next step boundary; a checkpoint is saved first. */
  signal?: AbortSignal
  onEvent?: (e: TrainEvent) => void
}

export interface TrainResult {
  outDir: string
  checkpointDir: string
  step: number
  steps: number
  interrupted: boolean
  final_loss: number
  val?: EvalResult
  tokens: number
  flops: number
  elapsed_s: number
  tokens_per_s: number
  /** Parameters the optimizer updated (all of them unless train.train_blocks froze some). */
  trainable_params: number
}

export async function train(job: TrainJob): Promise<TrainResult> {
  const out = job.outDir
  const ckptDir = path.join(out, 'checkpoint')
  let cfg = job.config
  let resumed: Checkpoint | undefined
  try {
    if (fs.statSync(out, {throwIfNoEntry: false})?.isDirectory() === false) throw new InputError(`${out} exists and is not a directory: choose another output`)
    fs.mkdirSync(out, {recursive: true})
  } catch (error) {
    throw ioError(out, 'create', error)
  }
  // Lock first, so that a second run into a busy directory is told who holds it.
  const lock = acquireLock(out)
  try {
    const startOver = () => {
      // A new run: the old run's checkpoint and metrics must not be mistaken for this one's.
      for (const f of ['checkpoint', 'checkpoint.new-swap', 'checkpoint.old-swap', 'metrics.jsonl', 'run.json'])
        fs.rmSync(path.join(out, f), {recursive: true, force: true})
      removeStaleTemporaries(out)
    }
    if (job.resume) {
      recoverDir(ckptDir) // finish or roll back a checkpoint swap a killed run left half done
      removeStaleTemporaries(out)
      // Stopped before its first checkpoint: nothing was lost, so resuming starts it (job.config is its run.json's).
      // run.json stays until the loop rewrites it (atomically, the same start): a kill in between can resume again.
      if (fs.existsSync(path.join(ckptDir, 'config.json')) || !fs.existsSync(path.join(out, 'run.json'))) ({cfg, resumed} = loadForResume(job, ckptDir))
    } else {
      if (!job.force && unsavedRun(out))
        throw new OutputExistsError(out, `it holds a run stopped before its first checkpoint (nothing was saved); start it again with \`npx ligo train --resume ${out}\`, or pass --force to start another`)
      ensureOutputDir(out, {force: job.force})
      startOver()
    }
    return await runLoop(job, cfg, resumed)
  } finally {
    lock.release()
  }
}

function loadForResume(job: TrainJob, ckptDir: string): {cfg: RunConfig; resumed: Checkpoint} {
  if (!fs.existsSync(path.join(ckptDir, 'config.json')))
    throw new InputError(`--resume: ${job.outDir} has no checkpoint to resume from (expected ${ckptDir})`)
  const resumed = loadCheckpoint(ckptDir, {optimizer: true})
  if (!resumed.meta.train || !resumed.trainer) throw new InputError(`--resume: ${ckptDir} is not a training checkpoint (no trainer.json)`)
  // The run's own config wins; only the number of steps may be extended (and the optimizer reset).
  const train = {...resumed.meta.train, steps: job.config.train.steps}
  if (!job.resetOptimizer && job.config.train.optimizer !== train.optimizer)
    throw new InputError(`--resume: the run uses optimizer '${train.optimizer}', not '${job.config.train.optimizer}'; pass --reset-optimizer to switch with a fresh optimizer state`)
  if (job.resetOptimizer) {
    for (const k of OPTIMIZER_KEYS) delete train[k]
    for (const k of OPTIMIZER_KEYS) if (job.config.train[k] !== undefined) Object.assign(train, {[k]: job.config.train[k]})
  }
  return {cfg: {model: resumed.meta.model, train: train as RunConfig['train']}, resumed}
}

async function runLoop(job: TrainJob, cfg: RunConfig, resumed?: Checkpoint): Promise<TrainResult> {
  const data: DataDir = loadDataDir(job.dataDir)
  try {
    return await loop(job, cfg, data, resumed)
  } finally {
    data.close()
  }
}

async function loop(job: TrainJob, cfg: RunConfig, data: DataDir, resumed?: Checkpoint): Promise<TrainResult> {
  const {model: mc, train: tc} = cfg
  const out = job.outDir
  const ckptDir = path.join(out, 'checkpoint')
  const metricsFile = path.join(out, 'metrics.jsonl')
  checkVocab(data, mc.vocab_size)
  const schema = schemaOf(mc)
  const flopsPerToken = trainFlopsPerToken(mc, schema, tc.seq)
  const tokensPerStep = tc.batch * tc.seq * tc.accum

  let weights: Weights
  const mupFor = {optimizer: tc.optimizer, scale_parameter: tc.scale_parameter}
  // LLaMA-Pro block expansion (src/ligo/expansion.ts): with train.train_blocks only those blocks' tensors train;
  // the others are constants of the forward pass, outside the optimizer (no update, no weight decay).
  const blocks = new Set(tc.train_blocks ?? [])
  const trains = (p: ParamSpec) => !tc.train_blocks || (p.layer !== null && blocks.has(p.layer))
  const trainable = schema.filter(trains)
  const frozen = schema.filter((p) => !trains(p))
  // Tensors the model does not read (LSH's key projections) get no optimizer state and no weight decay.
  const unused = unusedParams(mc)
  const optSchema = trainable.filter((p) => !unused.has(p.name))
  const opt = makeOptimizer(tc.optimizer, optSchema, tc, lrMultipliers(mc, schema, mupFor), wdMultipliers(mc, schema, mupFor))
  let state: TrainerState = {step: 0, tokens: 0, flops: 0, elapsed_s: 0, optimizer: tc.optimizer, data: {dir: path.resolve(job.dataDir), sha256: data.meta.splits.train.sha256}}
  if (resumed) {
    if (resumed.trainer!.data && resumed.trainer!.data.sha256 !== data.meta.splits.train.sha256)
      throw new InputError(`--resume: ${job.dataDir} is not the data this run was trained on (token hash differs)`)
    if (resumed.trainer!.optimizer !== tc.optimizer && !job.resetOptimizer)
      throw new InputError(`--resume: the run used optimizer '${resumed.trainer!.optimizer}', not '${tc.optimizer}'; pass --reset-optimizer to switch with a fresh optimizer state`)
    weights = resumed.weights
    if (!job.resetOptimizer) {
      if (!resumed.optimizer) throw new InputError(`--resume: ${ckptDir} has no optimizer.safetensors`)
      opt.loadState(resumed.optimizer, resumed.trainer!.step)
    }
    state = {...resumed.trainer!, optimizer: tc.optimizer, data: state.data}
    truncateMetrics(metricsFile, state.step)
  } else {
    weights = job.from ? cloneWeights(job.from.weights) : initWeights(schema, tc.seed, initStds(mc, schema))
    // What the run was started with: `--resume` restarts from it when the run stops before its first checkpoint.
    const start = {config: cfg, data: path.resolve(job.dataDir), init_from: job.from ? path.resolve(job.from.dir) : undefined, optimizer: optimizerUsed(tc), provenance: job.provenance ?? {}}
    writeFileAtomic(path.join(out, 'run.json'), JSON.stringify(start, null, 2) + '\n')
    writeFileAtomic(metricsFile, '')
  }

  // MSG (src/model/msg.ts): an MSG-grown model's config carries its masks, which advance with every update;
  // `model` is the config of the next forward pass, saved with every checkpoint.
  let model = mc
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    model: mc,
    tokenizer: data.meta.tokenizer,
    train: tc,
    provenance: {...(resumed?.meta.provenance ?? {}), ...(job.provenance ?? {}), ...(job.from ? {init_from: job.from.dir} : {})},
    hf: resumed?.meta.hf ?? job.from?.meta.hf,
  }
  const save = () => {
    // Non-finite weights (e.g. from a corrupt optimizer state) never reach a checkpoint: the next step's loss
    // would show them too, but a save can come first.
    for (const [name, w] of weights) {
      if (!allFinite(w)) throw new DivergenceError(`weights of ${name} became NaN/Inf at step ${state.step} (in the optimizer update: a corrupt optimizer state or an overflowing step); not saved${fs.existsSync(path.join(ckptDir, 'config.json')) ? `, the last good checkpoint is kept in ${ckptDir}` : ''}`)
    }
    saveCheckpoint(ckptDir, {meta, weights, optimizer: opt.stateTensors(), trainer: state})
    job.onEvent?.({kind: 'save', step: state.step, dir: ckptDir})
  }
  const runEval = (): EvalResult => {
    const r = evaluate(model, schema, weights, data.val, {batch: tc.batch, seq: tc.seq, maxBatches: tc.eval_batches, bytesPerToken: data.meta.bytesPerToken})
    job.onEvent?.({kind: 'eval', step: state.step, result: r})
    return r
  }

  const count = (ps: typeof schema) => ps.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)
  const params = count(schema)
  const trainableParams = count(trainable)
  job.onEvent?.({kind: 'start', step: state.step, steps: tc.steps, params, trainable: trainableParams, flopsPerToken, resumed: Boolean(resumed)})
  const sampler = new BatchSampler(data.train, {batch: tc.batch, seq: tc.seq, seed: tc.seed})
  let lastLoss = Number.NaN
  let lastVal: EvalResult | undefined
  let interrupted = false
  const t0 = performance.now()
  const elapsed0 = state.elapsed_s
  const step0 = state.step

  while (state.step < tc.steps) {
    if (job.signal?.aborted) {
      interrupted = true
      break
    }
    const tStep = performance.now()
    const lr = lrAt(state.step, tc)
    const grads: Weights = new Map()
    let loss = 0
    for (let micro = 0; micro < tc.accum; micro++) {
      const b = sampler.sample(state.step, micro)
      loss += lossAndGrads(model, trainable, weights, {inputs: b.inputs, targets: b.targets, batch: tc.batch, seq: tc.seq}, grads, 1 / tc.accum, frozen) / tc.accum
    }
    const kept = () => (fs.existsSync(path.join(ckptDir, 'config.json')) ? `; the last good checkpoint is kept in ${ckptDir}` : '; no checkpoint was written')
    if (!Number.isFinite(loss)) throw new DivergenceError(`loss is ${loss} at step ${state.step + 1}${kept()}`)
    // The global norm is finite exactly when every gradient is (barring overflow of the sum): one pass, and
    // the offending tensor is only searched for when it is not.
    const gradNorm = clipGlobalNorm(grads.values(), tc.grad_clip)
    if (!Number.isFinite(gradNorm)) {
      const bad = [...grads].find(([, g]) => !allFinite(g))?.[0] ?? 'all tensors (their squared sum overflows)'
      throw new DivergenceError(`gradient of ${bad} has NaN/Inf at step ${state.step + 1}${kept()}`)
    }
    opt.update(weights, grads, lr)
    model = msgAdvance(model)
    meta.model = model
    state.step++
    state.tokens += tokensPerStep
    state.flops += flopsPerToken * tokensPerStep
    const now = performance.now()
    state.elapsed_s = elapsed0 + (now - t0) / 1000
    lastLoss = loss
    const row: MetricsRow = {
      step: state.step,
      tokens: state.tokens,
      flops: state.flops,
      loss,
      lr,
      grad_norm: gradNorm,
      tokens_per_s: tokensPerStep / ((now - tStep) / 1000),
      elapsed_s: state.elapsed_s,
    }
    const last = state.step === tc.steps
    if ((tc.eval_every > 0 && state.step % tc.eval_every === 0) || last) {
      lastVal = runEval()
      row.val_loss = lastVal.loss
      row.val_bpb = lastVal.bits_per_byte
    }
    appendLineDurable(metricsFile, JSON.stringify(row))
    const done = state.step - step0
    const etaS = ((state.elapsed_s - elapsed0) / done) * (tc.steps - state.step)
    job.onEvent?.({kind: 'step', row, steps: tc.steps, etaS})
    if ((tc.save_every > 0 && state.step % tc.save_every === 0) || last) save()
    // Yield to the event loop so signal handlers can run between steps.
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (interrupted || state.step === step0) save()
  if (!lastVal && !interrupted) lastVal = runEval()
  const secs = state.elapsed_s - elapsed0
  return {
    outDir: job.outDir,
    checkpointDir: ckptDir,
    step: state.step,
    steps: tc.steps,
    interrupted,
    final_loss: lastLoss,
    val: lastVal,
    tokens: state.tokens,
    flops: state.flops,
    elapsed_s: state.elapsed_s,
    tokens_per_s: secs > 0 ? ((state.step - step0) * tokensPerStep) / secs : 0,
    trainable_params: trainableParams,
  }
}

/** What run.json says a run was started with. */
export interface RunStart {
  config: RunConfig
  /** The data directory (absolute). */
  data: string
  /** The checkpoint the run started from (absolute), if any. */
  init_from?: string
}

/**
 * A run that was stopped before its first checkpoint (run.json but no checkpoint): what it was started with, so
 * that `--resume` can start it again; undefined for any other directory. Read-only.
 */
export function unsavedRun(outDir: string): RunStart | undefined {
  const file = path.join(outDir, 'run.json')
  if (!fs.existsSync(file) || resolveCommittedDir(path.join(outDir, 'checkpoint'))) return undefined
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new FileFormatError(file, `cannot read the run's start record: ${(error as Error).message}`)
  }
  const c = (raw?.config ?? {}) as Record<string, unknown>
  if (typeof raw?.data !== 'string') throw new FileFormatError(file, `'data' is ${preview(raw?.data)}: expected the data directory`)
  if (raw.init_from !== undefined && typeof raw.init_from !== 'string') throw new FileFormatError(file, `'init_from' is ${preview(raw.init_from)}: expected a checkpoint path`)
  return {config: {model: modelConfig(c.model, file), train: trainConfig(c.train, file)}, data: raw.data, init_from: raw.init_from as string | undefined}
}

/** Temporary checkpoint directories and files a killed save left behind (the lock holder removes them). */
function removeStaleTemporaries(out: string): void {
  for (const f of fs.readdirSync(out)) {
    if (/^\.checkpoint\.tmp-\d+-\d+$/.test(f) || /\.tmp-\d+-[0-9a-f]+$/.test(f)) fs.rmSync(path.join(out, f), {recursive: true, force: true})
  }
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false
  return true
}

function cloneWeights(w: Weights): Weights {
  return new Map([...w].map(([k, v]) => [k, Float32Array.from(v)]))
}

/** Drops metric rows logged after the checkpoint a run resumes from (they will be logged again). */
function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false
      try {
        return (JSON.parse(line) as MetricsRow).step <= step
      } catch {
        return false // a torn last line from a killed run
      }
    })
  writeFileAtomic(file, kept.map((l) => l + '\n').join(''))
}
