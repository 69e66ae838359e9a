/**
 * Checkpoint directories. A checkpoint is a directory holding
 *   config.json            what the model is (family config), its tokenizer, the run config, provenance
 *   model.safetensors      the weights, by schema name
 *   optimizer.safetensors  optimizer state (optional: present in training checkpoints)
 *   trainer.json           where training stands: step, tokens, FLOPs, elapsed time (optional)
 * A run directory holds `checkpoint/` (the latest, swapped in atomically as a whole), `metrics.jsonl` and
 * `run.json`. Commands that read a model accept either.
 */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {FileFormatError, InputError, listSome, preview} from '../errors.js'
import {carriedHfKeys, isHfDir, readHfDir, readHfMeta} from '../model/hf.js'
import {type ModelConfig, modelConfig, schemaOf} from '../model/index.js'
import {type Schema, numel} from '../model/schema.js'
import {type TrainConfig, trainConfig} from '../train/config.js'
import {commitDirAtomic, ensureOutputDir, ioError, resolveCommittedDir, writeFileAtomic} from './atomic.js'
import {SHARD_INDEX_FILE, SafetensorsWriter, readSafetensors, writeSafetensors} from './safetensors.js'

export const CHECKPOINT_FORMAT = 'ligo-checkpoint'
export const CHECKPOINT_VERSION = 1

export type Weights = Map<string, Float32Array>

export interface TrainerState {
  step: number
  tokens: number
  flops: number
  elapsed_s: number
  optimizer: string
  /** Identity of the data the run trains on, so resume can refuse other data. */
  data?: {dir: string; sha256: string}
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT
  version: number
  model: ModelConfig
  tokenizer: object
  train?: TrainConfig
  provenance: Record<string, unknown>
  /** Hugging Face config keys ligo does not model, carried from an import to a later export (src/model/hf.ts HF_CARRIED_KEYS). */
  hf?: {config: Record<string, number | null>}
}

export interface Checkpoint {
  dir: string
  meta: CheckpointMeta
  schema: Schema
  weights: Weights
  optimizer?: Map<string, Float32Array>
  trainer?: TrainerState
}

/**
 * The checkpoint directory for a path that names a checkpoint or a run directory. Read-only: if a save was
 * interrupted mid-swap it returns whichever complete copy exists (the run that owns the directory repairs it
 * with `recoverDir` under its lock).
 */
export function resolveCheckpointDir(p: string): string {
  for (const dir of [p, path.join(p, 'checkpoint')]) {
    const committed = resolveCommittedDir(dir)
    if (committed && fs.existsSync(path.join(committed, 'config.json'))) return committed
  }
  if (!fs.existsSync(p)) throw new InputError(`${p}: no such checkpoint or run directory`)
  throw new InputError(`${p}: not a checkpoint (expected ${p}/config.json or ${p}/checkpoint/config.json)`)
}

export function readMeta(dir: string): CheckpointMeta {
  const file = path.join(dir, 'config.json')
  let raw: any
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new FileFormatError(file, `cannot read checkpoint config: ${(error as Error).message}`)
  }
  if (raw?.format !== CHECKPOINT_FORMAT) throw new FileFormatError(file, `format is ${preview(raw?.format)}, expected "${CHECKPOINT_FORMAT}"`)
  if (raw.version !== CHECKPOINT_VERSION) throw new FileFormatError(file, `version ${preview(raw.version)} is not supported (expected ${CHECKPOINT_VERSION})`)
  if (typeof raw.tokenizer !== 'object' || raw.tokenizer === null) throw new FileFormatError(file, "missing 'tokenizer'")
  // Provenance is free-form and informational: absent or null reads as none; anything but an object is refused.
  const provenance = raw.provenance ?? {}
  if (typeof provenance !== 'object' || Array.isArray(provenance)) throw new FileFormatError(file, `'provenance' is ${preview(provenance)}: expected an object`)
  const hf = raw.hf === undefined ? undefined : {config: carriedHfKeys(raw.hf?.config ?? {})}
  return {...raw, model: modelConfig(raw.model, file), train: raw.train === undefined ? undefined : trainConfig(raw.train, file), provenance, hf}
}

/** The model config and provenance of a checkpoint directory, ligo's or Hugging Face's, without its weights. */
export function readModelMeta(dir: string): {model: ModelConfig; provenance: Record<string, unknown>} {
  if (isHfDir(dir)) {
    const hf = readHfMeta(dir)
    return {model: hf.config, provenance: hf.provenance}
  }
  const meta = readMeta(dir)
  return {model: meta.model, provenance: meta.provenance}
}

/**
 * Loads a checkpoint strictly: every schema tensor must be present with its exact shape, and nothing else.
 * A Hugging Face model directory (its config.json has model_type or architectures) is imported on the fly.
 */
export function loadCheckpoint(p: string, opts: {optimizer?: boolean; onProgress?: IoProgress} = {}): Checkpoint {
  const dir = resolveCheckpointDir(p)
  if (isHfDir(dir)) return hfCheckpoint(dir)
  const meta = readMeta(dir)
  const schema = schemaOf(meta.model)
  const modelFile = path.join(dir, 'model.safetensors')
  const st = readSafetensors(modelFile, {onProgress: opts.onProgress && ((b, t) => opts.onProgress!({file: modelFile, verb: 'read', bytes: b, total: t}))})
  const weights: Weights = new Map()
  const missing: string[] = []
  const problems: string[] = []
  for (const spec of schema) {
    const t = st.tensors.get(spec.name)
    if (!t) {
      missing.push(spec.name)
      continue
    }
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))
      problems.push(`${spec.name} has shape [${t.shape}], expected [${spec.shape}]`)
    else if (!(t.data instanceof Float32Array)) problems.push(`${spec.name} has dtype ${t.dtype}, expected a float type`)
    else weights.set(spec.name, t.data)
  }
  const known = new Set(schema.map((s) => s.name))
  const unexpected = [...st.tensors.keys()].filter((k) => !known.has(k))
  if (problems.length > 20) problems.splice(20, problems.length - 20, `${problems.length - 20} more tensors with another shape or dtype`)
  if (missing.length > 0) problems.push(`missing tensors: ${listSome(missing)}`)
  if (unexpected.length > 0) problems.push(`unexpected tensors: ${listSome(unexpected.map((k) => (k.length > 200 ? k.slice(0, 197) + '...' : k)))}`)
  if (problems.length > 0) throw new FileFormatError(modelFile, `does not match the model in config.json: ${problems.join('; ')}`)

  const ckpt: Checkpoint = {dir, meta, schema, weights}
  const trainerFile = path.join(dir, 'trainer.json')
  if (fs.existsSync(trainerFile)) {
    try {
      ckpt.trainer = JSON.parse(fs.readFileSync(trainerFile, 'utf8')) as TrainerState
    } catch (error) {
      throw new FileFormatError(trainerFile, `cannot read trainer state: ${(error as Error).message}`)
    }
    checkTrainerState(ckpt.trainer, trainerFile)
  }
  const optFile = path.join(dir, 'optimizer.safetensors')
  if (opts.optimizer && fs.existsSync(optFile)) {
    const os = readSafetensors(optFile)
    ckpt.optimizer = new Map()
    for (const [k, t] of os.tensors) {
      if (!(t.data instanceof Float32Array)) throw new FileFormatError(optFile, `${k} has dtype ${t.dtype}, expected a float type`)
      ckpt.optimizer.set(k, t.data)
    }
  }
  return ckpt
}

/** An HF model directory read as a checkpoint (src/model/hf.ts): config, weights and tokenizer; no trainer state. */
function hfCheckpoint(dir: string): Checkpoint {
  const hf = readHfDir(dir)
  const meta: CheckpointMeta = {format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: hf.config, tokenizer: hf.tokenizer, provenance: hf.provenance, hf: {config: hf.hfConfig}}
  return {dir, meta, schema: schemaOf(hf.config), weights: hf.weights}
}

function checkTrainerState(t: unknown, file: string): asserts t is TrainerState {
  const o = t as Record<string, unknown>
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new FileFormatError(file, 'expected a JSON object')
  if (!Number.isSafeInteger(o.step) || (o.step as number) < 0) throw new FileFormatError(file, `'step' is ${preview(o.step)}: expected an integer ≥ 0`)
  for (const k of ['tokens', 'flops', 'elapsed_s'])
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0) throw new FileFormatError(file, `'${k}' is ${preview(o[k])}: expected a finite number ≥ 0`)
  if (typeof o.optimizer !== 'string') throw new FileFormatError(file, `'optimizer' is ${preview(o.optimizer)}: expected a string`)
}

/** Progress of a long read or write: bytes done of the total, for a status line. */
export type IoProgress = (p: {file: string; verb: 'read' | 'write'; bytes: number; total: number}) => void

export interface SaveOptions {
  meta: CheckpointMeta
  weights: Weights
  optimizer?: Map<string, Float32Array>
  trainer?: TrainerState
  /** Extra files to place in the checkpoint (name → bytes or a safetensors map). */
  extra?: Record<string, string | Uint8Array>
  onProgress?: IoProgress
}

/**
 * Writes a complete checkpoint to a temporary directory beside `dir`, then swaps it in atomically: a crash at
 * any moment leaves either the previous checkpoint or the new one, never a mix.
 */
export function saveCheckpoint(dir: string, o: SaveOptions): void {
  const schema = schemaOf(o.meta.model)
  for (const spec of schema) {
    const w = o.weights.get(spec.name)
    if (!w) throw new Error(`saveCheckpoint: no weights for ${spec.name}`)
    if (w.length !== numel(spec.shape)) throw new Error(`saveCheckpoint: ${spec.name} has ${w.length} values, expected ${numel(spec.shape)}`)
  }
  const ck = CheckpointWriter.begin(dir)
  try {
    ck.meta(o.meta)
    const model = ck.model(schema, o.onProgress)
    for (const spec of schema) model.write(spec.name, o.weights.get(spec.name)!)
    model.close()
    if (o.optimizer) {
      const opt = new Map([...o.optimizer].map(([k, v]) => [k, {shape: [v.length], data: v}]))
      writeSafetensors(path.join(ck.tmp, 'optimizer.safetensors'), opt, {metadata: {producer: 'ligo'}})
    }
    if (o.trainer) ck.file('trainer.json', JSON.stringify(o.trainer, null, 2) + '\n')
    for (const [name, data] of Object.entries(o.extra ?? {})) ck.file(name, data)
    ck.commit()
  } catch (error) {
    ck.abort()
    throw error
  }
}

/**
 * A checkpoint written piece by piece into a temporary directory beside `dir` and swapped in by `commit()`
 * (commitDirAtomic), for writers that produce the weights one tensor at a time (growth at real sizes) and may
 * want to read them back before the checkpoint is published. `abort()` removes everything written so far.
 */
export class CheckpointWriter {
  private constructor(
    readonly dir: string,
    readonly tmp: string,
  ) {}

  static begin(dir: string): CheckpointWriter {
    const parent = path.dirname(path.resolve(dir))
    fs.mkdirSync(parent, {recursive: true})
    const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${Date.now()}`)
    fs.mkdirSync(tmp)
    return new CheckpointWriter(dir, tmp)
  }

  /** The path `model.safetensors` has until commit. */
  get modelFile(): string {
    return path.join(this.tmp, 'model.safetensors')
  }

  /** config.json. */
  meta(meta: CheckpointMeta): void {
    this.file('config.json', JSON.stringify(meta, null, 2) + '\n')
  }

  /** model.safetensors laid out from the schema: write each tensor (any order) by name, then close(). */
  model(schema: Schema, onProgress?: IoProgress): SafetensorsWriter {
    const file = this.modelFile
    return SafetensorsWriter.create(file, schema.map((s) => [s.name, {shape: s.shape}]), {
      metadata: {format: 'pt', producer: 'ligo'},
      onProgress: onProgress && ((bytes, total) => onProgress({file, verb: 'write', bytes, total})),
    })
  }

  file(name: string, data: string | Uint8Array): void {
    writeFileAtomic(path.join(this.tmp, name), data)
  }

  commit(): void {
    commitDirAtomic(this.tmp, this.dir)
  }

  abort(): void {
    fs.rmSync(this.tmp, {recursive: true, force: true})
  }
}

/** The files a ligo checkpoint directory may hold: saveCheckpoint's own and the extras commands add. */
export const CHECKPOINT_FILES: readonly string[] = ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json', 'ligo.safetensors', 'ligo.json', 'tokenizer.json']

/**
 * Makes `dir` ready to receive one checkpoint directory written by saveCheckpoint, which replaces it as a whole.
 * Refused: a directory that is or holds one of `sources` (the command would delete its own input: `grow runs/a
 * -o runs/a --force`), a non-empty one without `force`, and with `force` one holding anything but a ligo
 * checkpoint's files (a user's notes, a training run's metrics), which the swap would delete with it.
 */
export function ensureCheckpointOutput(dir: string, opts: {force?: boolean; sources?: readonly string[]} = {}): void {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p)
    } catch {
      return path.resolve(p)
    }
  }
  const out = real(dir)
  for (const s of opts.sources ?? []) {
    const src = real(s)
    if (src === out || src.startsWith(out + path.sep))
      throw new InputError(`-o ${dir} holds the source ${s}: writing there would replace it (and everything beside it); choose another output`)
  }
  ensureOutputDir(dir, {force: opts.force})
  let foreign: string[]
  try {
    foreign = fs.readdirSync(dir).filter((f) => !CHECKPOINT_FILES.includes(f))
  } catch (error) {
    throw ioError(dir, 'read', error)
  }
  if (foreign.length > 0)
    throw new InputError(`${dir} holds files that are not part of a ligo checkpoint (${listSome(foreign)}): --force replaces only an earlier checkpoint, and writing would delete them; move them away or choose another output`)
}

/**
 * SHA-256 identifying a checkpoint's weights (a grown model's provenance.source_sha256): of model.safetensors when
 * there is one (ligo checkpoints, single-file HF directories), else of a sharded HF directory's index followed by
 * its shards in name order. Files are read in chunks (they may exceed what one buffer holds).
 */
export function weightsSha256(dir: string): string {
  const single = path.join(dir, 'model.safetensors')
  const index = path.join(dir, SHARD_INDEX_FILE)
  let files = [single]
  if (!fs.existsSync(single) && fs.existsSync(index)) {
    let shards: string[]
    try {
      shards = [...new Set(Object.values(JSON.parse(fs.readFileSync(index, 'utf8')).weight_map as Record<string, string>))].sort()
    } catch (error) {
      throw new FileFormatError(index, `cannot read the shard list: ${(error as Error).message}`)
    }
    files = [index, ...shards.map((f) => path.join(dir, f))]
  }
  const hash = crypto.createHash('sha256')
  const buf = Buffer.allocUnsafe(1 << 24)
  for (const file of files) {
    let fd: number | undefined
    try {
      fd = fs.openSync(file, 'r')
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n))
    } catch (error) {
      throw ioError(file, 'read', error)
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
  }
  return hash.digest('hex')
}
