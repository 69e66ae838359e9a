/**
 * µP entry points used by training and growth. Standard parametrisation (SP) for now: every multiplier is 1
 * and every init is the schema's own. (Issue #5 replaces these with the µP rule table in src/mup/rules.ts.)
 */
import type {ModelConfig} from '../model/index.js'
import type {Schema} from '../model/schema.js'

/** Per-tensor learning-rate multipliers for Adam-family optimizers (missing names mean 1). */
export function lrMultipliers(_c: ModelConfig, _schema: Schema): Map<string, number> {
  return new Map()
}

/** Per-tensor init std overrides for normal-initialised tensors (missing names keep the schema's std). */
export function initStds(_c: ModelConfig, _schema: Schema): Map<string, number> {
  return new Map()
}
