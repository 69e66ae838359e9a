/**
 * `ligo grow`: make a larger model from a trained small one, by a learned LiGO operator or a fixed baseline.
 *
 * Methods:
 *   ligo        learn the operator's width and depth parameters for a few steps on the grown model's LM loss
 *               (source weights frozen), then materialise.
 *   stack       new block i = source block i mod L1 (StackBERT); width by function-preserving copies.
 *   interleave  new block i = source block ⌊i·L1/L2⌋ (interpolation); width as above.
 *   net2net     function-preserving width (Net2WiderNet with LayerNorm-safe copies at a multiple of the width,
 *               LEMON's average expansion at any other width) and identity new blocks (copies of their neighbour
 *               with zero output projections, Net2DeeperNet-style): the grown model computes exactly the source's
 *               function (pre-LN families; BERT's post-LN blocks are not identities, nor is its average expansion
 *               exact: there the max logit difference is measured and reported, src/ligo/preserve.ts).
 *   zero        function-preserving width; new blocks freshly initialised with zero output projections (exact,
 *               pre-LN families only, as above).
 *   random      a from-scratch initialisation at the target size (the control).
 *   msg         Masked Structural Growth (msg.ts): new width, heads, FFN units and blocks enter through masks that
 *               `ligo train` ramps 0 → 1 over --grow-steps updates; exact at step 0 whatever the new weights.
 *   hypercloning  HyperCloning (hypercloning.ts): width by tiling with W/n splits (symmetric, diagonal or noisy
 *               variants); new blocks, if any, as net2net's identity blocks. Exact.
 *
 * The grown model is streamed into the output checkpoint tensor by tensor (materializeEach, InitStream,
 * CheckpointWriter): besides the source, one grown tensor at a time is in memory, so GPT-2-small-sized sources
 * grow to GPT-2-medium's shape in about the memory of the source. Evaluation and the function check need the
 * whole grown model: only then are the written tensors kept.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {type Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointWriter, ensureCheckpointOutput, weightsSha256} from '../checkpoints/checkpoint.js'
import {type SafetensorsWriter, readSafetensors, serializeSafetensors} from '../checkpoints/safetensors.js'
import {BatchSampler} from '../data/batches.js'
import {checkVocab, loadDataDir} from '../data/prepare.js'
import {InputError, preview} from '../errors.js'
import {type ModelConfig, modelConfig, schemaOf} from '../model/index.js'
import {InitStream} from '../model/init.js'
import type {ParamSpec, Schema} from '../model/schema.js'
import {initStds} from '../mup/index.js'
import {lrAt} from '../optim/schedule.js'
import {type EvalResult, evalSetOf, evaluate} from '../train/eval.js'
import {trainFlopsPerToken} from '../train/flops.js'
import {OperatorLearner} from './learn.js'
import {type DepthInit, type LigoOperator, OPERATOR_VERSION, type WidthInit, initOperator, operatorFromTensors, operatorTensors} from './operator.js'
import {type Weights, materializeEach, materializeFlops} from './materialize.js'
import {type FunctionCheck, checkBatches, exactness, logitDiff} from './preserve.js'
import {insertedBlocks} from './expansion.js'
import {type CloneVariant, CLONE_DEFAULT, CLONE_SNR_DB, applyCloneVariant, hyperCloneOperator} from './hypercloning.js'
import {MSG_GROW_STEPS, msgConfig, msgWeights} from './msg.js'
import {type PostGrowthSchedule, postGrowthTrain} from './recipe.js'
import {type GrowTarget, checkGrown, growConfig, writesResidual} from './spaces.js'

export const METHODS = ['ligo', 'stack', 'interleave', 'net2net', 'zero', 'random', 'msg', 'hypercloning'] as const
export type Method = (typeof METHODS)[number]

export interface LigoTraining {
  steps: number
  lr: number
  /** Learning rate of the depth coefficients (O(1) scalars); undefined: `lr`. */
  depthLr?: number
  warmup: number
  /** Sequences per micro-batch (what memory holds at once). */
  batch: number
  /** Micro-batches per operator step (gradient accumulation): the operator batch is batch × accum sequences. */
  accum: number
  seq: number
  weightDecay: number
  gradClip: number
  widthInit: WidthInit
  depthInit: DepthInit
  depthNoise: number
  fullWidth: boolean
  learnWidth: boolean
  learnDepth: boolean
}

/** The headline's operator (LiGO-25 of the 4 × 256 study; recipe.ts): 25 steps, warmup 3, batch 8 × 128, lr 1e-3. */
export const LIGO_DEFAULTS: LigoTraining = {
  steps: 25,
  lr: 1e-3,
  warmup: 3,
  batch: 8,
  accum: 1,
  seq: 128,
  weightDecay: 0,
  gradClip: 1,
  widthInit: 'auto',
  depthInit: 'stack',
  depthNoise: 0.03,
  fullWidth: false,
  learnWidth: true,
  learnDepth: true,
}

export interface GrowJob {
  source: Checkpoint
  target: GrowTarget
  method: Method
  out: string
  force?: boolean
  /** Prepared data (required to learn the operator; optional for evaluation of the others). */
  dataDir?: string
  ligo?: Partial<LigoTraining>
  seed?: number
  /** Re-apply this saved operator (ligo.safetensors) instead of building one. */
  operatorFile?: string
  /** Validation batches for the before/after evaluation (0 = skip; default: the source's train.eval_batches, else 20). */
  evalBatches?: number
  provenance?: Record<string, unknown>
  /** msg: updates over which `ligo train` ramps the masks to 1 (default MSG_GROW_STEPS). */
  growSteps?: number
  /** hypercloning: the variant (default CLONE_DEFAULT) and the noisy variants' SNR in dB (default CLONE_SNR_DB). */
  clone?: {variant?: CloneVariant; snrDb?: number}
  /** The training settings the grown checkpoint carries (recipe.ts; default: the headline's re-warmup). */
  postGrowth?: PostGrowthSchedule
  signal?: AbortSignal
  onEvent?: (e: GrowEvent) => void
}

export type GrowEvent =
  | {kind: 'start'; method: Method; small: ModelConfig; large: ModelConfig; learnable: number; steps: number}
  | {kind: 'warn'; message: string}
  | {kind: 'step'; step: number; steps: number; loss: number; lr: number; gradNorm: number}
  | {kind: 'eval-batch'; when: 'init' | 'final'; done: number; total: number}
  | {kind: 'eval'; when: 'init' | 'final'; result: EvalResult}
  | {kind: 'io'; verb: 'read' | 'write'; file: string; bytes: number; total: number}

export interface GrowResult {
  out: string
  method: Method
  small: ModelConfig
  large: ModelConfig
  params: {small: number; large: number; operator_learnable: number}
  steps: number
  loss_first?: number
  loss_last?: number
  val_init?: number
  val_final?: number
  /** FLOPs spent learning the operator (charged to the grown run by experiments). */
  flops: number
  flops_per_step: number
  /**
   * For the methods meant to keep the source's function (net2net, zero; stack and interleave without new blocks):
   * whether they do exactly here, and where not, how far the grown model's logits are from the source's.
   */
  function_check?: FunctionCheck
  elapsed_s: number
}

export async function grow(job: GrowJob): Promise<GrowResult> {
  const t0 = performance.now()
  const small = job.source.meta.model
  const seed = job.seed ?? 1337
  const lt: LigoTraining = {...LIGO_DEFAULTS, ...job.ligo}
  let op: LigoOperator | undefined
  let large: ModelConfig
  if (job.operatorFile) {
    ;({op, large} = loadOperator(job.operatorFile, small))
    checkGrown(large)
  } else {
    large = growConfig(small, job.target) // refuses targets the loader would refuse, before anything is allocated
  }
  // The checkpoint directory is replaced as a whole: never the source's, never one holding files ligo did not write.
  ensureCheckpointOutput(job.out, {force: job.force, sources: [job.source.dir]})
  if (job.operatorFile && (job.method === 'msg' || job.method === 'hypercloning' || job.method === 'random'))
    throw new InputError(`--operator re-applies a saved LiGO operator; it cannot be combined with --method ${job.method}`)
  // MSG (msg.ts): the grown config carries the state of its masks.
  if (job.method === 'msg') large = msgConfig(small, large, job.growSteps ?? MSG_GROW_STEPS)
  const largeSchema = schemaOf(large)
  const learning = job.method === 'ligo' && !job.operatorFile
  if (learning && !job.dataDir) throw new InputError('--method ligo learns its operator on text: give --data (a directory made by `ligo data prepare`)')
  if (!(Number.isInteger(lt.accum) && lt.accum >= 1)) throw new InputError(`--accum ${lt.accum}: expected a whole number of micro-batches ≥ 1`)
  if (learning && lt.warmup >= lt.steps)
    job.onEvent?.({kind: 'warn', message: `warmup (${lt.warmup}) ≥ steps (${lt.steps}): the learning rate never reaches its peak (the official LiGO release's bug); consider --warmup ${Math.max(0, Math.floor(lt.steps / 10))}`})

  // GQA: the fixed width maps copy heads in order, which keeps each query head with its key/value head only when
  // the number of query heads per kv head is kept (the default; --kv-heads may change it).
  const group = (c: ModelConfig) => c.n_head / ((c as {n_kv_head?: number}).n_kv_head ?? c.n_head)
  if (job.method !== 'ligo' && job.method !== 'random' && group(small) !== group(large))
    job.onEvent?.({kind: 'warn', message: `the grown model has ${group(large)} query heads per key/value head, the source ${group(small)}: --method ${job.method} then does not keep the source's attention (nor its function); keep the group size for an exact growth`})

  if (!op && job.method === 'hypercloning') op = hyperCloneOperator(small, large, largeSchema, seed)
  const cloneVariant = job.clone?.variant ?? CLONE_DEFAULT
  if (job.method === 'hypercloning' && large.d_model > small.d_model && !cloneVariant.startsWith('noisy'))
    job.onEvent?.({kind: 'warn', message: `--clone-variant ${cloneVariant}: the clones get identical updates, so they stay copies under training (no dropout, deterministic): the grown model keeps the source's width in effect; --clone-variant noisy-symmetric or noisy-diagonal breaks the symmetry`})
  if (!op && job.method !== 'random' && job.method !== 'msg') {
    const fixed = job.method !== 'ligo'
    op = initOperator(small, large, largeSchema, {
      width: fixed ? 'fp' : lt.widthInit,
      depth: job.method === 'stack' ? 'stack' : job.method === 'interleave' ? 'interleave' : fixed ? 'fp' : lt.depthInit,
      depthNoise: fixed ? 0 : lt.depthNoise,
      fullWidth: fixed ? false : lt.fullWidth,
      seed,
    })
    large = op.large // an average expansion scales the norms' ε
  }
  if (learning && op?.width.get('resid')?.Min)
    throw new InputError(`--width-init fp at ${small.d_model} → ${large.d_model} (not a multiple) is LEMON's average expansion, which operator learning does not support: use --width-init auto, rand or select, or a fixed --method (net2net, zero, stack, interleave)`)

  // Whether a method meant to keep the source's function does so exactly here (post-LN BERT: not always).
  const preserves = job.operatorFile ? undefined : exactness(job.method, small, large)
  if (preserves && !preserves.exact) job.onEvent?.({kind: 'warn', message: preserves.reason!})

  const data = job.dataDir ? loadDataDir(job.dataDir) : undefined
  try {
    if (data) checkVocab(data, large.vocab_size)
    // The operator's batches are lt.batch × opSeq (× lt.accum micro-batches a step); the before/after losses use
    // the source's evaluation set (what `ligo eval` and `ligo train` report for the same weights).
    const opSeq = Math.min(lt.seq, large.n_positions)
    const evalOpts = {...evalSetOf(large, job.source.meta.train, {batches: job.evalBatches || undefined}), bytesPerToken: data?.meta.bytesPerToken}
    const runEval = (w: Weights, when: 'init' | 'final') => {
      if (!data || job.evalBatches === 0) return undefined
      const r = evaluate(large, largeSchema, w, data.val, {...evalOpts, onBatch: (done, total) => job.onEvent?.({kind: 'eval-batch', when, done, total})})
      job.onEvent?.({kind: 'eval', when, result: r})
      return r
    }
    // Learning: the grown weights live in the learner (materialised natively into arrays reused from step to step,
    // never on a tape); the operator's arrays are updated in place, so the checkpoint is streamed from `op` after.
    const learner = learning && op && data ? new OperatorLearner(op, job.source.weights, {depthLrMult: (lt.depthLr ?? lt.lr) / lt.lr,
      weightDecay: lt.weightDecay, gradClip: lt.gradClip, learnWidth: lt.learnWidth, learnDepth: lt.learnDepth}) : undefined
    const learnableCount = learner?.learnableCount ?? 0
    const tokensPerStep = lt.batch * lt.accum * opSeq
    const flopsPerStep = op ? trainFlopsPerToken(large, largeSchema, opSeq) * tokensPerStep + 3 * materializeFlops(op) : 0
    job.onEvent?.({kind: 'start', method: job.method, small, large, learnable: learnableCount, steps: learning ? lt.steps : 0})

    // The grown weights are held in memory only to evaluate them (ligo's initial operator) or to check them.
    const evaluating = data !== undefined && evalOpts.maxBatches > 0
    const valInit = learner && evaluating ? runEval(learner.weights(), 'init') : undefined
    let lossFirst: number | undefined
    let lossLast: number | undefined
    let steps = 0
    if (learner && data) {
      const sampler = new BatchSampler(data.train, {batch: lt.batch, seq: opSeq, seed})
      for (let step = 0; step < lt.steps; step++) {
        if (job.signal?.aborted) throw new InputError('interrupted: nothing was written (operator learning does not checkpoint; it takes minutes)')
        const lr = lrAt(step, {lr: lt.lr, warmup: lt.warmup, steps: lt.steps, schedule: 'linear', min_lr_ratio: 0})
        const {loss, gradNorm} = learner.step(Array.from({length: lt.accum}, (_, micro) => sampler.sample(step, micro)), lr)
        lossFirst ??= loss
        lossLast = loss
        steps = step + 1
        job.onEvent?.({kind: 'step', step: step + 1, steps: lt.steps, loss, lr, gradNorm})
        await new Promise((resolve) => setImmediate(resolve))
      }
      learner.release() // the grown model is streamed from the learned operator below
    }

    // Stream the grown model into the output: tensor by tensor, never more than the source and one grown tensor
    // beyond the file, unless the grown model must be evaluated or checked before the checkpoint is published
    // (then the tensors written are kept: cheaper than reading the file back).
    const checking = preserves !== undefined && !preserves.exact
    const grown: Weights | undefined = evaluating || checking ? new Map() : undefined
    const ck = CheckpointWriter.begin(job.out)
    let model: SafetensorsWriter | undefined
    try {
      model = ck.model(largeSchema, (p) => job.onEvent?.({kind: 'io', ...p}))
      const write = (P: ParamSpec, data: Float32Array) => {
        if (job.signal?.aborted) throw new InputError('interrupted: nothing was written')
        model!.write(P.name, data)
        grown?.set(P.name, data)
      }
      const clone = {variant: cloneVariant, snrDb: job.clone?.snrDb ?? CLONE_SNR_DB, seed}
      if (job.method === 'msg') {
        // MSG's new parts are initialised from scratch and masked: built whole (no streaming), then written.
        const w = msgWeights(small, large, job.source.weights, seed)
        for (const P of largeSchema) write(P, w.get(P.name)!)
      } else if (job.method === 'hypercloning' && op) {
        const index = new Map(largeSchema.map((P, i) => [P.name, i]))
        materializeEach(op, job.source.weights, (P, data) => {
          applyCloneVariant(P, index.get(P.name)!, data, op!, clone)
          write(P, data)
        })
      } else if (!op) {
        const init = new InitStream(largeSchema, seed, initStds(large, largeSchema))
        for (const P of largeSchema) write(P, init.take(P))
      } else if (job.method === 'zero' && !job.operatorFile) {
        // New blocks get a fresh init (the stream initWeights(seed + 1) would give them), output projections stay 0.
        const fresh = new InitStream(largeSchema, seed + 1, initStds(large, largeSchema))
        const renewed = newBlocks(large, largeSchema, op)
        materializeEach(op, job.source.weights, (P, data) => write(P, renewed.has(P.layer!) && !writesResidual(P, largeSchema) ? fresh.take(P) : data))
      } else {
        materializeEach(op, job.source.weights, write)
      }
      model.close()
      const valNow = grown && !learning ? runEval(grown, 'init') : undefined
      const valFinal = learning ? (grown ? runEval(grown, 'final') : undefined) : valNow
      const functionCheck: FunctionCheck | undefined = preserves && {
        ...preserves,
        ...(checking ? logitDiff(small, job.source.weights, large, grown!, checkBatches(small, large, data, seed)) : {}),
      }

      const result: GrowResult = {
        out: job.out,
        method: job.method,
        small,
        large,
        params: {small: count(schemaOf(small)), large: count(largeSchema), operator_learnable: learnableCount},
        steps,
        loss_first: lossFirst,
        loss_last: lossLast,
        val_init: (valInit ?? valNow)?.loss,
        val_final: valFinal?.loss,
        flops: flopsPerStep * steps,
        flops_per_step: flopsPerStep,
        function_check: functionCheck,
        elapsed_s: (performance.now() - t0) / 1000,
      }
      const provenance = {
        ...(job.provenance ?? {}),
        grown_from: job.source.dir,
        source_sha256: weightsSha256(job.source.dir),
        growth: {method: job.method, seed, target: job.target, ligo: learning ? lt : undefined, operator_file: job.operatorFile,
          // The blocks this growth inserted (expansion.ts: what `ligo train --train-only new` trains), MSG's ramp, the clone variant.
        new_blocks: insertedBlocks(job.method, small, large, largeSchema, op), msg_grow_steps: job.method === 'msg' ? job.growSteps ?? MSG_GROW_STEPS : undefined,
        clone: job.method === 'hypercloning' ? clone : undefined, post_growth: job.postGrowth ?? 'rewarm',
        steps, loss_first: lossFirst, loss_last: lossLast, val_init: result.val_init, val_final: result.val_final, flops: result.flops,
          function_check: functionCheck, elapsed_s: result.elapsed_s},
      }
      ck.meta({format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: large, tokenizer: job.source.meta.tokenizer, train: postGrowthTrain(job.source.meta.train, job.postGrowth), provenance, hf: job.source.meta.hf})
      if (op) {
        ck.file('ligo.safetensors', serializeSafetensors(operatorTensors(op), {metadata: {producer: 'ligo', method: job.method}}))
        ck.file('ligo.json', JSON.stringify({format: 'ligo-operator', version: OPERATOR_VERSION, method: job.method, seed, small, large,
          order: 'depth-then-width', tie: large.tie_embeddings ? 'readout tied to the embedding; readout in-dim scaling on the final norm' : 'untied',
          width_layerwise: 'per grown block', learned: learning ? {width: lt.learnWidth, depth: lt.learnDepth, full_width: lt.fullWidth} : null,
          init: learning ? {width: lt.widthInit, depth: lt.depthInit, depth_noise: lt.depthNoise} : 'fixed',
          resid_expansion: op.width.get('resid')?.Min ? 'average (LEMON): width.resid.Min holds the in-dimension rows; norm gains × √(d1/d2), norm ε × d1/d2' : 'rows M'}, null, 2) + '\n')
      }
      ck.commit()
      return result
    } catch (error) {
      model?.abort()
      ck.abort()
      throw error
    }
  } finally {
    data?.close()
  }
}

/**
 * `zero`: the grown blocks that repeat a source block (the second and later copies of fp depth), which get a fresh
 * from-scratch init except for their output projections, which stay zero.
 */
function newBlocks(large: ModelConfig, schema: Schema, op: LigoOperator): Set<number> {
  const out = new Set<number>()
  const firstCopy = new Set<number>()
  for (let i = 0; i < large.n_layer; i++) {
    const probe = schema.find((p) => p.layer === i && !writesResidual(p, schema))!
    const c = op.depth.get(`h.${i}.${probe.module}`)!
    const j = c.findIndex((x) => x === 1)
    if (firstCopy.has(j)) out.add(i)
    firstCopy.add(j)
  }
  return out
}

function loadOperator(file: string, small: ModelConfig): {op: LigoOperator; large: ModelConfig} {
  const jsonFile = path.join(path.dirname(file), 'ligo.json')
  if (!fs.existsSync(jsonFile)) throw new InputError(`${file}: expected its description ${jsonFile} beside it`)
  let desc: {version?: unknown; small: unknown; large: unknown} | null
  try {
    desc = JSON.parse(fs.readFileSync(jsonFile, 'utf8'))
  } catch (error) {
    throw new InputError(`${jsonFile}: not valid JSON: ${(error as Error).message}`)
  }
  if (typeof desc !== 'object' || desc === null || Array.isArray(desc)) throw new InputError(`${jsonFile}: expected a JSON object (the operator's description)`)
  // Version 2 added the average expansion (width.resid.Min); a version-1 file is read as it always was.
  if (desc.version !== 1 && desc.version !== OPERATOR_VERSION)
    throw new InputError(`${jsonFile}: operator format version ${preview(desc.version)} is not supported (this ligo reads versions 1 and ${OPERATOR_VERSION}); was it written by a newer ligo?`)
  const opSmall = modelConfig(desc.small, jsonFile, 'small')
  const large = modelConfig(desc.large, jsonFile, 'large')
  if (JSON.stringify(opSmall) !== JSON.stringify(small))
    throw new InputError(`${file}: this operator grows a different source model (${opSmall.n_layer} layers × ${opSmall.d_model}) than the one given (${small.n_layer} × ${small.d_model})`)
  const st = readSafetensors(file)
  if (desc.version === 1 && [...st.tensors.keys()].some((k) => k.endsWith('.Min')))
    throw new InputError(`${file}: holds an average expansion (width.resid.Min), which format version 1 does not have, but ${jsonFile} says version 1: the two files do not belong together`)
  return {op: operatorFromTensors(small, large, schemaOf(large), st.tensors, file), large}
}

function count(schema: ParamSpec[]): number {
  return schema.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)
}
