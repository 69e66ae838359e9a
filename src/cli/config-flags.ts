/** Flags shared by commands that take a run config (train, demo, bench): the preset/file and its overrides. */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Flags} from '@oclif/core'

import {InputError} from '../errors.js'
import {OPTIMIZERS} from '../optim/index.js'
import type {Overrides} from '../train/config.js'

/** The configs/ directory shipped with the package. */
export const PRESET_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs')

/** A --config value: a path to a YAML/JSON file, or the name of a preset in configs/ (e.g. `gpt-tiny`). */
export function resolveConfigPath(value: string): string {
  if (fs.existsSync(value)) return value
  const preset = path.join(PRESET_DIR, value.endsWith('.yaml') ? value : `${value}.yaml`)
  if (fs.existsSync(preset)) return preset
  const presets = fs.existsSync(PRESET_DIR) ? fs.readdirSync(PRESET_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)) : []
  throw new InputError(`--config ${value}: no such file, and no such preset (presets: ${presets.join(', ')})`)
}

/** Whether a config path is one of the presets shipped in configs/ (its settings are defaults, not the user's). */
export function isPreset(file: string): boolean {
  try {
    return path.dirname(fs.realpathSync(file)) === fs.realpathSync(PRESET_DIR)
  } catch {
    return false
  }
}

export const overrideFlags = {
  steps: Flags.integer({min: 1, description: 'optimizer steps (train.steps)', helpGroup: 'OVERRIDES'}),
  batch: Flags.integer({min: 1, description: 'sequences per micro-batch (train.batch)', helpGroup: 'OVERRIDES'}),
  seq: Flags.integer({min: 1, description: 'tokens per sequence (train.seq)', helpGroup: 'OVERRIDES'}),
  accum: Flags.integer({min: 1, description: 'micro-batches per step (train.accum)', helpGroup: 'OVERRIDES'}),
  lr: Flags.custom<number>({parse: async (s) => positive('--lr', s), description: 'peak learning rate (train.lr)', helpGroup: 'OVERRIDES'})(),
  warmup: Flags.integer({min: 0, description: 'warmup steps (train.warmup)', helpGroup: 'OVERRIDES'}),
  schedule: Flags.option({options: ['cosine', 'linear', 'constant'] as const, description: 'LR decay (train.schedule)', helpGroup: 'OVERRIDES'})(),
  optimizer: Flags.option({options: OPTIMIZERS, description: "optimizer (train.optimizer), with its published defaults for the settings your own config does not give (a preset's are replaced)", helpGroup: 'OVERRIDES'})(),
  'weight-decay': Flags.custom<number>({parse: async (s) => nonNegative('--weight-decay', s), description: 'decoupled weight decay (train.weight_decay)', helpGroup: 'OVERRIDES'})(),
  'grad-clip': Flags.custom<number>({parse: async (s) => nonNegative('--grad-clip', s), description: 'global-norm clip, 0 = off (train.grad_clip)', helpGroup: 'OVERRIDES'})(),
  'eval-every': Flags.integer({min: 0, description: 'evaluate every N steps (train.eval_every)', helpGroup: 'OVERRIDES'}),
  'save-every': Flags.integer({min: 0, description: 'checkpoint every N steps (train.save_every)', helpGroup: 'OVERRIDES'}),
  seed: Flags.integer({min: 0, description: 'random seed (train.seed)', helpGroup: 'OVERRIDES'}),
  layers: Flags.integer({min: 1, description: 'number of blocks (model.n_layer)', helpGroup: 'OVERRIDES'}),
  'd-model': Flags.integer({min: 1, description: 'residual width (model.d_model)', helpGroup: 'OVERRIDES'}),
  heads: Flags.integer({min: 1, description: 'attention heads (model.n_head)', helpGroup: 'OVERRIDES'}),
  ffn: Flags.integer({min: 1, description: 'FFN width (model.d_ffn)', helpGroup: 'OVERRIDES'}),
  param: Flags.option({options: ['sp', 'mup'] as const, description: 'parametrization: standard or µP (model.param; µP base shapes from the config)', helpGroup: 'OVERRIDES'})(),
  reversible: Flags.boolean({allowNo: true, description: 'reversible blocks, activations recomputed in backward: memory flat in depth (model.reversible)', helpGroup: 'OVERRIDES'}),
  'ffn-chunks': Flags.integer({min: 1, description: 'compute each FFN in N row chunks (model.ffn_chunks)', helpGroup: 'OVERRIDES'}),
  'loss-chunks': Flags.integer({min: 1, description: 'compute the logits and loss in N row chunks (model.loss_chunks)', helpGroup: 'OVERRIDES'}),
  attention: Flags.option({options: ['full', 'lsh'] as const, description: 'full causal attention, or Reformer shared-QK LSH attention (model.attention)', helpGroup: 'OVERRIDES'})(),
  'lsh-buckets': Flags.integer({min: 0, description: 'LSH buckets per hash round: 0 = from the length and --lsh-chunk (default), 1, or even (model.lsh_buckets)', helpGroup: 'OVERRIDES'}),
  'lsh-chunk': Flags.integer({min: 0, description: 'LSH chunk length (default 64; 0 = 2·T/buckets) (model.lsh_chunk)', helpGroup: 'OVERRIDES'}),
  'lsh-hashes': Flags.integer({min: 1, description: 'LSH hash rounds (model.lsh_hashes)', helpGroup: 'OVERRIDES'}),
  'decay-fraction': Flags.custom<number>({parse: async (s) => fraction('--decay-fraction', s), description: 'end the LR decay after this fraction of the post-warmup steps, then hold (train.decay_fraction; LEMON: 0.5)', helpGroup: 'OVERRIDES'})(),
}

export function overridesFrom(flags: Record<string, unknown>): Overrides {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(overrideFlags)) if (flags[k] !== undefined) out[k] = flags[k]
  return out as Overrides
}

/** Parses a flag value that must be a finite number > 0. */
export function positive(flag: string, s: string): number {
  const v = Number(s)
  if (!Number.isFinite(v) || v <= 0) throw new InputError(`${flag} ${s}: expected a number > 0`)
  return v
}

/** Parses a flag value that must be a number in (0, 1]. */
export function fraction(flag: string, s: string): number {
  const v = Number(s)
  if (!Number.isFinite(v) || v <= 0 || v > 1) throw new InputError(`${flag} ${s}: expected a number in (0, 1]`)
  return v
}

/** Parses a flag value that must be a finite number ≥ 0. */
export function nonNegative(flag: string, s: string): number {
  const v = Number(s)
  if (!Number.isFinite(v) || v < 0) throw new InputError(`${flag} ${s}: expected a number ≥ 0`)
  return v
}
