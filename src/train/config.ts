/**
 * A run's configuration: the model (validated by its family) and the training settings. Precedence:
 * built-in defaults < YAML/JSON config file < command-line overrides. Unknown keys are errors naming the key.
 */
import * as fs from 'node:fs'
import YAML from 'yaml'

import {ConfigError, InputError} from '../errors.js'
import {type ModelConfig, modelConfig} from '../model/index.js'
import {OPTIMIZER_DEFAULTS, OPTIMIZERS, type OptimizerKind, type OptimizerSettingKey, type OptimizerSettings} from '../optim/index.js'
import {SCHEDULES, type ScheduleKind} from '../optim/schedule.js'
import {Fields, type Obj} from '../validate.js'

export {OPTIMIZERS, type OptimizerKind} from '../optim/index.js'

/** The optimizer's settings (weight_decay, beta1, beta2, eps and the CAME/Adafactor keys) come from OptimizerSettings. */
export interface TrainConfig extends OptimizerSettings {
  steps: number
  /** Sequences per micro-batch. */
  batch: number
  /** Tokens per sequence. */
  seq: number
  /** Micro-batches per update (gradient accumulation). */
  accum: number
  /** adamw, came or adafactor; the optimizer keys (OptimizerSettings) default per optimizer (OPTIMIZER_DEFAULTS). */
  optimizer: OptimizerKind
  lr: number
  warmup: number
  schedule: ScheduleKind
  min_lr_ratio: number
  /** The decay ends after this fraction of the post-warmup steps, then the LR holds (absent: 1; LEMON's post-growth schedule). */
  decay_fraction?: number
  /** Train only these blocks (LLaMA-Pro block expansion: `ligo train --train-only new`); absent: every tensor trains. */
  train_blocks?: number[]
  /** Global-norm clip; 0 disables. */
  grad_clip: number
  /** Evaluate every N steps (and at the end); 0 disables periodic evaluation. */
  eval_every: number
  /** Validation batches per evaluation (0 = the whole validation split). */
  eval_batches: number
  /** Save a checkpoint every N steps (and at the end); 0 = only at the end. */
  save_every: number
  seed: number
}

export interface RunConfig {
  model: ModelConfig
  train: TrainConfig
}

export const TRAIN_KEYS = [
  'steps', 'batch', 'seq', 'accum', 'optimizer', 'lr', 'warmup', 'schedule', 'min_lr_ratio', 'weight_decay',
  'beta1', 'beta2', 'eps', 'beta3', 'eps2', 'clip_threshold', 'decay_rate', 'scale_parameter', 'grad_clip', 'eval_every',
  'eval_batches', 'save_every', 'seed', 'decay_fraction', 'train_blocks',
] as const

/** The keys that configure the optimizer (the rest of TrainConfig is the schedule, data and bookkeeping). */
export const OPTIMIZER_KEYS = [
  'optimizer', 'beta1', 'beta2', 'eps', 'beta3', 'eps2', 'clip_threshold', 'decay_rate', 'scale_parameter',
] as const satisfies readonly (keyof TrainConfig)[]
const OPTIMIZER_SETTING_KEYS = OPTIMIZER_KEYS.slice(1) as Exclude<(typeof OPTIMIZER_KEYS)[number], 'optimizer'>[]

/**
 * Reads the optimizer keys. Defaults depend on the optimizer (OPTIMIZER_DEFAULTS: each method's published ones);
 * a key the chosen optimizer does not use is an error rather than silently ignored.
 */
function optimizerConfig(f: Fields): Pick<TrainConfig, (typeof OPTIMIZER_KEYS)[number]> {
  const optimizer = f.oneOf('optimizer', OPTIMIZERS, 'adamw')
  const d = OPTIMIZER_DEFAULTS[optimizer]
  const uses = (k: OptimizerSettingKey) => d[k] !== undefined
  for (const k of OPTIMIZER_SETTING_KEYS) {
    if (f.has(k) && !uses(k)) {
      const users = OPTIMIZERS.filter((o) => OPTIMIZER_DEFAULTS[o][k] !== undefined)
      throw f.err(k, f.obj[k], `no value: ${k} is a setting of ${users.join(' and ')}, and train.optimizer is ${optimizer}`)
    }
  }
  const adafactor = optimizer === 'adafactor'
  const out: Pick<TrainConfig, (typeof OPTIMIZER_KEYS)[number]> = {
    optimizer,
    // CAME needs β1 > 0 (with β1 = 0 the instability vanishes and m/√S explodes); for Adafactor 0 means none.
    beta1: f.num('beta1', d.beta1, optimizer === 'came' ? {gt: 0, max: 0.999999} : {min: 0, max: 0.999999}),
    // AdamW's bias correction and CAME's EMAs need β2 < 1; for Adafactor it caps the schedule and 1 = no cap.
    beta2: f.num('beta2', d.beta2, adafactor ? {min: 0, max: 1} : {min: 0, max: 0.99999999}),
    eps: f.num('eps', d.eps, {gt: 0, max: 1}),
  }
  if (uses('beta3')) out.beta3 = f.num('beta3', d.beta3, {min: 0, max: 0.99999999})
  if (uses('eps2')) out.eps2 = f.num('eps2', d.eps2, {gt: 0, max: 1})
  if (uses('clip_threshold')) out.clip_threshold = f.num('clip_threshold', d.clip_threshold, {gt: 0})
  // c ≤ 0 keeps β̂2_t = 1 − t^c in [0, 1); the paper uses −0.8 (−0.5 also tested).
  if (uses('decay_rate')) out.decay_rate = f.num('decay_rate', d.decay_rate, {min: -1, max: 0})
  if (uses('scale_parameter')) out.scale_parameter = f.bool('scale_parameter', d.scale_parameter)
  return out
}

/**
 * `train` with its optimizer switched to `kind`: the optimizer keys take kind's defaults, everything else
 * (lr, weight decay, schedule, ...) is kept. The same kind returns `train` unchanged.
 */
export function withOptimizer(train: TrainConfig, kind: OptimizerKind): TrainConfig {
  if (kind === train.optimizer) return train
  const raw: Obj = {...train, optimizer: kind}
  for (const k of OPTIMIZER_SETTING_KEYS) delete raw[k]
  return trainConfig(raw)
}

/** What a run's optimizer is: its settings, and those that are not its published defaults (OPTIMIZER_DEFAULTS). */
export interface OptimizerUsed {
  name: OptimizerKind
  settings: Partial<Record<OptimizerSettingKey, number | boolean>>
  /** Settings that differ from the optimizer's published defaults (set in a config file or on the command line). */
  not_default: OptimizerSettingKey[]
}

/** The optimizer a run config uses (recorded in run.json, printed by `ligo train`). */
export function optimizerUsed(t: TrainConfig): OptimizerUsed {
  const d = OPTIMIZER_DEFAULTS[t.optimizer]
  const settings: OptimizerUsed['settings'] = {}
  for (const k of OPTIMIZER_SETTING_KEYS) if (d[k] !== undefined) settings[k] = t[k]
  const not_default = OPTIMIZER_SETTING_KEYS.filter((k) => settings[k] !== undefined && settings[k] !== d[k])
  return {name: t.optimizer, settings, not_default}
}

/** One line: `optimizer came: beta1 0.9, beta2 0.999, ... (its published defaults)`, naming any that are not. */
export function describeOptimizer(t: TrainConfig): string {
  const u = optimizerUsed(t)
  const d = OPTIMIZER_DEFAULTS[t.optimizer]
  const list = Object.entries(u.settings).map(([k, v]) => `${k} ${v}${u.not_default.includes(k as OptimizerSettingKey) ? ` (published default ${d[k as OptimizerSettingKey]})` : ''}`)
  return `optimizer ${u.name}: ${list.join(', ')}${u.not_default.length === 0 ? ' (its published defaults)' : ''}; weight_decay ${t.weight_decay}`
}

export function trainConfig(raw: unknown, source?: string): TrainConfig {
  const f = Fields.of(raw, 'train', source)
  f.rejectUnknown(TRAIN_KEYS)
  const {optimizer, ...optimizerSettings} = optimizerConfig(f)
  return {
    steps: f.int('steps', 1000, {min: 1}),
    batch: f.int('batch', 16, {min: 1, max: 1 << 16}),
    seq: f.int('seq', 128, {min: 1, max: 1 << 20}),
    accum: f.int('accum', 1, {min: 1, max: 1 << 16}),
    optimizer,
    lr: f.num('lr', 1e-3, {gt: 0, max: 10}),
    warmup: f.int('warmup', 100, {min: 0}),
    schedule: f.oneOf('schedule', SCHEDULES, 'cosine'),
    min_lr_ratio: f.num('min_lr_ratio', 0.1, {min: 0, max: 1}),
    weight_decay: f.num('weight_decay', 0.1, {min: 0, max: 10}),
    ...optimizerSettings,
    grad_clip: f.num('grad_clip', 1.0, {min: 0}),
    eval_every: f.int('eval_every', 100, {min: 0}),
    eval_batches: f.int('eval_batches', 20, {min: 0}),
    save_every: f.int('save_every', 100, {min: 0}),
    seed: f.int('seed', 1337, {min: 0, max: 2 ** 32 - 1}),
    // Optional keys, present only when set (issue #30: a post-growth schedule, LLaMA-Pro's frozen blocks).
    ...(f.has('decay_fraction') ? {decay_fraction: f.num('decay_fraction', 1, {gt: 0, max: 1})} : {}),
    ...(f.has('train_blocks') ? {train_blocks: blockList(f)} : {}),
  }
}

/** train.train_blocks: distinct block indices ≥ 0, in increasing order. */
function blockList(f: Fields): number[] {
  const v = f.obj.train_blocks
  const ok = Array.isArray(v) && v.length > 0 && v.every((b, i) => Number.isSafeInteger(b) && b >= 0 && (i === 0 || b > v[i - 1]))
  if (!ok) throw f.err('train_blocks', v, 'a non-empty list of block indices ≥ 0 in increasing order')
  return [...(v as number[])]
}

/** Command-line overrides, by the flag's name; undefined values are ignored. */
export interface Overrides {
  steps?: number
  batch?: number
  seq?: number
  accum?: number
  lr?: number
  warmup?: number
  seed?: number
  layers?: number
  'd-model'?: number
  heads?: number
  ffn?: number
  'weight-decay'?: number
  'grad-clip'?: number
  'eval-every'?: number
  'save-every'?: number
  schedule?: string
  optimizer?: string
  param?: string
  reversible?: boolean
  'ffn-chunks'?: number
  'loss-chunks'?: number
  attention?: string
  'lsh-buckets'?: number
  'lsh-chunk'?: number
  'lsh-hashes'?: number
  'decay-fraction'?: number
}

/** Where each override lands in the raw config. */
const OVERRIDE_PATHS: Record<keyof Overrides, [section: 'model' | 'train', key: string]> = {
  steps: ['train', 'steps'],
  batch: ['train', 'batch'],
  seq: ['train', 'seq'],
  accum: ['train', 'accum'],
  lr: ['train', 'lr'],
  warmup: ['train', 'warmup'],
  seed: ['train', 'seed'],
  schedule: ['train', 'schedule'],
  optimizer: ['train', 'optimizer'],
  'weight-decay': ['train', 'weight_decay'],
  'grad-clip': ['train', 'grad_clip'],
  'eval-every': ['train', 'eval_every'],
  'save-every': ['train', 'save_every'],
  layers: ['model', 'n_layer'],
  'd-model': ['model', 'd_model'],
  heads: ['model', 'n_head'],
  ffn: ['model', 'd_ffn'],
  param: ['model', 'param'],
  reversible: ['model', 'reversible'],
  'ffn-chunks': ['model', 'ffn_chunks'],
  'loss-chunks': ['model', 'loss_chunks'],
  attention: ['model', 'attention'],
  'lsh-buckets': ['model', 'lsh_buckets'],
  'lsh-chunk': ['model', 'lsh_chunk'],
  'lsh-hashes': ['model', 'lsh_hashes'],
  'decay-fraction': ['train', 'decay_fraction'],
}

/** Reads a YAML or JSON config file into a raw object (no validation). */
export function readConfigFile(path: string): Obj {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (error) {
    throw new InputError(`cannot read config file ${path}: ${(error as Error).message}`)
  }
  let doc: unknown
  try {
    doc = YAML.parse(text, {uniqueKeys: true, logLevel: 'error'})
  } catch (error) {
    throw new InputError(`${path}: not valid YAML/JSON: ${(error as Error).message}`, {code: 'E_CONFIG'})
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('(root)', doc, 'a mapping with keys model and train', path)
  return doc as Obj
}

export interface ResolveOptions {
  /**
   * The raw config's optimizer settings (beta1, beta2, eps, ...) are not the user's choice but a shipped preset's
   * or a checkpoint's resolved ones: an --optimizer override naming another optimizer then drops them, so that the
   * optimizer it names gets its published defaults (a preset's AdamW β2 0.95 is not CAME's or Adafactor's).
   * Settings from the user's own file (the default) are kept: they were set explicitly.
   */
  presetOptimizerSettings?: boolean
}

/**
 * Resolves a run config from a raw object (file contents or a checkpoint's saved config) plus overrides.
 * model.n_positions defaults to train.seq; train.seq may not exceed model.n_positions.
 */
export function resolveRunConfig(raw: Obj, overrides: Overrides = {}, source?: string, opts: ResolveOptions = {}): RunConfig {
  const root = Fields.of(raw, '', source)
  root.rejectUnknown(['model', 'train'])
  const model: Obj = {...(Fields.of(raw.model, 'model', source).obj)}
  const trainRaw: Obj = {...(Fields.of(raw.train, 'train', source).obj)}
  if (opts.presetOptimizerSettings && overrides.optimizer !== undefined && overrides.optimizer !== (trainRaw.optimizer ?? 'adamw'))
    for (const k of OPTIMIZER_SETTING_KEYS) delete trainRaw[k]
  for (const [flag, value] of Object.entries(overrides)) {
    if (value === undefined) continue
    const path = OVERRIDE_PATHS[flag as keyof Overrides]
    if (!path) throw new InputError(`unknown override --${flag}`)
    ;(path[0] === 'model' ? model : trainRaw)[path[1]] = value
    // A width override without an explicit head size or FFN width recomputes their defaults.
    if (flag === 'd-model' || flag === 'heads') delete model.head_size
    if (flag === 'd-model' && overrides.ffn === undefined) delete model.d_ffn
  }
  // Switching to LSH attention: the bucket settings a full-attention config carried were never used (and saved
  // configs predating lsh_chunk fixed 8 buckets, a chunk growing with T): take the current defaults unless given.
  if (overrides.attention === 'lsh' && (raw.model as Obj | undefined)?.attention !== 'lsh') {
    if (overrides['lsh-buckets'] === undefined) delete model.lsh_buckets
    if (overrides['lsh-chunk'] === undefined) delete model.lsh_chunk
  }
  try {
    const train = trainConfig(trainRaw, source)
    if (model.n_positions === undefined) model.n_positions = train.seq
    const m = modelConfig(model, source)
    if (train.seq > m.n_positions)
      throw new ConfigError('train.seq', train.seq, `at most model.n_positions (${m.n_positions})`, source)
    if (train.train_blocks && train.train_blocks[train.train_blocks.length - 1] >= m.n_layer)
      throw new ConfigError('train.train_blocks', train.train_blocks, `block indices below model.n_layer (${m.n_layer})`, source)
    return {model: m, train}
  } catch (error) {
    // A bad value that came from a flag is the flag's fault, not the config file's.
    if (error instanceof ConfigError) {
      const flag = (Object.keys(OVERRIDE_PATHS) as (keyof Overrides)[]).find(
        (k) => overrides[k] !== undefined && OVERRIDE_PATHS[k].join('.') === error.field,
      )
      if (flag) throw new InputError(`--${flag} ${overrides[flag]}: ${error.message.replace(/^.*?: expected /, 'expected ')}`, {code: 'E_CONFIG'})
    }
    throw error
  }
}
