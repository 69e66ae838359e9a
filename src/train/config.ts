/**
 * A run's configuration: the model (validated by its family) and the training settings. Precedence:
 * built-in defaults < YAML/JSON config file < command-line overrides. Unknown keys are errors naming the key.
 */
import * as fs from 'node:fs'
import YAML from 'yaml'

import {ConfigError, InputError} from '../errors.js'
import {type ModelConfig, modelConfig} from '../model/index.js'
import {SCHEDULES, type ScheduleKind} from '../optim/schedule.js'
import {Fields, type Obj} from '../validate.js'

export const OPTIMIZERS = ['adamw'] as const
export type OptimizerKind = (typeof OPTIMIZERS)[number]

export interface TrainConfig {
  steps: number
  /** Sequences per micro-batch. */
  batch: number
  /** Tokens per sequence. */
  seq: number
  /** Micro-batches per update (gradient accumulation). */
  accum: number
  optimizer: OptimizerKind
  lr: number
  warmup: number
  schedule: ScheduleKind
  min_lr_ratio: number
  weight_decay: number
  beta1: number
  beta2: number
  eps: number
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
  'beta1', 'beta2', 'eps', 'grad_clip', 'eval_every', 'eval_batches', 'save_every', 'seed',
] as const

export function trainConfig(raw: unknown, source?: string): TrainConfig {
  const f = Fields.of(raw, 'train', source)
  f.rejectUnknown(TRAIN_KEYS)
  return {
    steps: f.int('steps', 1000, {min: 1}),
    batch: f.int('batch', 16, {min: 1, max: 1 << 16}),
    seq: f.int('seq', 128, {min: 1, max: 1 << 20}),
    accum: f.int('accum', 1, {min: 1, max: 1 << 16}),
    optimizer: f.oneOf('optimizer', OPTIMIZERS, 'adamw'),
    lr: f.num('lr', 1e-3, {gt: 0, max: 10}),
    warmup: f.int('warmup', 100, {min: 0}),
    schedule: f.oneOf('schedule', SCHEDULES, 'cosine'),
    min_lr_ratio: f.num('min_lr_ratio', 0.1, {min: 0, max: 1}),
    weight_decay: f.num('weight_decay', 0.1, {min: 0, max: 10}),
    beta1: f.num('beta1', 0.9, {min: 0, max: 0.999999}),
    beta2: f.num('beta2', 0.95, {min: 0, max: 0.99999999}),
    eps: f.num('eps', 1e-8, {gt: 0, max: 1}),
    grad_clip: f.num('grad_clip', 1.0, {min: 0}),
    eval_every: f.int('eval_every', 100, {min: 0}),
    eval_batches: f.int('eval_batches', 20, {min: 0}),
    save_every: f.int('save_every', 100, {min: 0}),
    seed: f.int('seed', 1337, {min: 0, max: 2 ** 32 - 1}),
  }
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
  'weight-decay': ['train', 'weight_decay'],
  'grad-clip': ['train', 'grad_clip'],
  'eval-every': ['train', 'eval_every'],
  'save-every': ['train', 'save_every'],
  layers: ['model', 'n_layer'],
  'd-model': ['model', 'd_model'],
  heads: ['model', 'n_head'],
  ffn: ['model', 'd_ffn'],
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
    doc = YAML.parse(text, {uniqueKeys: true})
  } catch (error) {
    throw new InputError(`${path}: not valid YAML/JSON: ${(error as Error).message}`, {code: 'E_CONFIG'})
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('(root)', doc, 'a mapping with keys model and train', path)
  return doc as Obj
}

/**
 * Resolves a run config from a raw object (file contents or a checkpoint's saved config) plus overrides.
 * model.n_positions defaults to train.seq; train.seq may not exceed model.n_positions.
 */
export function resolveRunConfig(raw: Obj, overrides: Overrides = {}, source?: string): RunConfig {
  const root = Fields.of(raw, '', source)
  root.rejectUnknown(['model', 'train'])
  const model: Obj = {...(Fields.of(raw.model, 'model', source).obj)}
  const trainRaw: Obj = {...(Fields.of(raw.train, 'train', source).obj)}
  for (const [flag, value] of Object.entries(overrides)) {
    if (value === undefined) continue
    const path = OVERRIDE_PATHS[flag as keyof Overrides]
    if (!path) throw new InputError(`unknown override --${flag}`)
    ;(path[0] === 'model' ? model : trainRaw)[path[1]] = value
    // A width override without an explicit head size or FFN width recomputes their defaults.
    if (flag === 'd-model' || flag === 'heads') delete model.head_size
    if (flag === 'd-model' && overrides.ffn === undefined) delete model.d_ffn
  }
  const train = trainConfig(trainRaw, source)
  if (model.n_positions === undefined) model.n_positions = train.seq
  const m = modelConfig(model, source)
  if (train.seq > m.n_positions)
    throw new ConfigError('train.seq', train.seq, `at most model.n_positions (${m.n_positions})`, source)
  return {model: m, train}
}
