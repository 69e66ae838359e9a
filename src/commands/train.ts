import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand, duration, fmt} from '../cli/base.js'
import {isPreset, overrideFlags, overridesFrom, resolveConfigPath} from '../cli/config-flags.js'
import {onStopSignals, signalExitCode} from '../cli/signals.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {DivergenceError, InputError} from '../errors.js'
import {trainOnlyBlocks} from '../ligo/expansion.js'
import {functionChanges, schemaOf} from '../model/index.js'
import {checkParametrizationSwitch, describeParametrization, parametrizationSummary} from '../mup/index.js'
import {lrAt} from '../optim/schedule.js'
import {type RunConfig, describeOptimizer, readConfigFile, resolveRunConfig, withOptimizer} from '../train/config.js'
import {type TrainResult, train, unsavedRun} from '../train/trainer.js'

/** A run whose final training loss ends this many nats/token above its first step's exits 1 (see the README's failure modes). */
export const RUNAWAY_NATS = 1

export default class Train extends BaseCommand {
  static summary = 'Train a model: from scratch (a config), from a checkpoint (e.g. a grown model), or resume a run.'
  static description = `Writes OUT/checkpoint (atomically replaced at every save), OUT/metrics.jsonl (one JSON object per step: step, tokens, flops, loss, lr, grad_norm, tokens_per_s, elapsed_s, val_loss at evaluations) and OUT/run.json.
SIGINT/SIGTERM stop at the next step boundary after saving a checkpoint; \`--resume OUT\` continues bit-for-bit.
Validation: train.eval_batches batches of train.batch × train.seq tokens from the front of the validation split, the checkpoint's evaluation set — what \`ligo eval\` and \`ligo grow\` report on by default, so the three print the same loss for the same weights.
A checkpoint keeps its training settings (a grown one: its source's, warmup raised to the headline's 300 steps) and its parametrization: --param on a checkpoint is refused when it would change the function. The start of a run prints the parametrization, the per-tensor learning-rate rule and the schedule. A run whose final loss ends more than ${RUNAWAY_NATS} nat/token above its first step's exits 1.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --config configs/gpt-tiny.yaml --data data/brown -o runs/tiny',
    '<%= config.bin %> <%= command.id %> --config gpt-tiny --data data/brown -o runs/tiny --steps 500 --lr 0.002',
    '<%= config.bin %> <%= command.id %> --resume runs/tiny',
    '<%= config.bin %> <%= command.id %> --resume runs/tiny --steps 4000   # extend a finished run',
    '<%= config.bin %> <%= command.id %> --config gpt-tiny --data data/brown -o runs/came --optimizer came --lr 0.002',
    '<%= config.bin %> <%= command.id %> --resume runs/tiny --reset-optimizer --optimizer adafactor   # fresh optimizer state',
    '<%= config.bin %> <%= command.id %> runs/grown --data data/brown --steps 2000 -o runs/grown-trained',
    '<%= config.bin %> <%= command.id %> runs/grown --data data/brown --steps 500 --train-only new -o runs/expanded   # LLaMA-Pro: only the inserted blocks train',
  ]

  static args = {
    checkpoint: Args.string({description: 'start from this checkpoint (its model and weights) instead of a fresh init', required: false}),
  }

  static flags = {
    config: Flags.string({char: 'c', description: 'YAML/JSON run config, or a preset name from configs/ (gpt-tiny, gpt-micro, ...)'}),
    data: Flags.string({char: 'd', description: 'prepared data directory (ligo data prepare)'}),
    out: Flags.string({char: 'o', description: 'run directory to create'}),
    resume: Flags.string({description: 'resume the run in this directory from its last checkpoint', exclusive: ['out', 'config', 'checkpoint']}),
    force: Flags.boolean({description: 'overwrite a non-empty output directory', default: false}),
    'reset-optimizer': Flags.boolean({
      description: 'with --resume: start a fresh optimizer state (weights, step and schedule continue); needed to change --optimizer',
      dependsOn: ['resume'],
    }),
    'train-only': Flags.option({options: ['new', 'all'] as const, description: 'new: train only the blocks the growth of CHECKPOINT inserted, the rest frozen (LLaMA-Pro block expansion); all: every tensor (default; also undoes a carried restriction)', exclusive: ['resume']})(),
    ...overrideFlags,
  }

  async run(): Promise<TrainResult> {
    const {args, flags} = await this.parse(Train)
    const info = await this.useBackend(flags.backend)
    const overrides = overridesFrom(flags)
    let config: RunConfig
    let outDir: string
    let dataDir = flags.data
    let from
    if (flags.resume) {
      // A resumed run continues with its own settings: only the step count (and, with --reset-optimizer, the
      // optimizer) may change.
      const ignored = Object.keys(overrides).filter((k) => k !== 'steps' && k !== 'optimizer')
      if (ignored.length > 0) throw new InputError(`--resume continues a run with its saved settings: --${ignored.join(', --')} cannot be changed (only --steps; --optimizer with --reset-optimizer)`)
      outDir = flags.resume
      // A run stopped before its first checkpoint lost nothing: it is started again from its run.json.
      const unsaved = unsavedRun(outDir)
      const ck = unsaved ? undefined : loadCheckpoint(outDir)
      const saved = unsaved ? unsaved.config : {model: ck!.meta.model, train: ck!.meta.train}
      if (!saved.train) throw new InputError(`--resume ${outDir}: not a training run`)
      if (unsaved) this.note(`${outDir} was stopped before its first checkpoint, so nothing was lost: starting it again with the settings in its run.json`)
      from = unsaved?.init_from === undefined ? undefined : loadCheckpoint(unsaved.init_from)
      config = {model: saved.model, train: {...saved.train, steps: flags.steps ?? saved.train.steps}}
      const at = ck?.trainer?.step ?? 0
      if (flags.steps !== undefined && flags.steps !== saved.train.steps && flags.steps > at && saved.train.schedule !== 'constant') {
        // A new --steps moves the decay's horizon: say what that does to the learning rate where the run resumes.
        const before = lrAt(at, saved.train)
        const after = lrAt(at, config.train)
        if (Math.abs(after - before) > 0.01 * before)
          this.warn(`--steps ${flags.steps}: the run was planned for ${saved.train.steps} steps, so its ${saved.train.schedule} schedule is re-horizoned: the learning rate at step ${at} jumps from ${before.toExponential(2)} to ${after.toExponential(2)}${flags.steps < saved.train.steps ? ' (a shorter run decays faster from here on)' : ''}`)
      }
      if (flags.optimizer && flags.optimizer !== config.train.optimizer) {
        if (!flags['reset-optimizer'])
          throw new InputError(`--optimizer ${flags.optimizer}: the run in ${outDir} uses ${config.train.optimizer}; add --reset-optimizer to switch (fresh optimizer state, same weights and step)`)
        config.train = withOptimizer(config.train, flags.optimizer)
      }
      dataDir ??= unsaved ? unsaved.data : ck!.trainer?.data?.dir
    } else {
      if (!flags.out) throw new InputError('missing --out (-o): the run directory to create')
      outDir = flags.out
      const configFile = flags.config ? resolveConfigPath(flags.config) : undefined
      const raw = configFile ? readConfigFile(configFile) : {}
      if (args.checkpoint) {
        from = loadCheckpoint(args.checkpoint, {onProgress: this.ioProgress()})
        for (const k of ['layers', 'd-model', 'heads', 'ffn'] as const)
          if (flags[k] !== undefined) throw new InputError(`--${k} cannot change the model of checkpoint ${args.checkpoint}; use \`npx ligo grow\``)
        // Without --config, a checkpoint keeps the training settings it was made with (a grown model inherits
        // its source's: same global LR and schedule, per-tensor factors recomputed for the new widths).
        const trainRaw = flags.config ? raw.train : from.meta.train
        if (flags.param !== undefined) checkParametrizationSwitch(from.meta.model, flags.param, `checkpoint ${args.checkpoint}`)
        // A preset's or the checkpoint's optimizer settings give way to another --optimizer's published defaults.
        config = resolveRunConfig({model: {...from.meta.model}, train: trainRaw}, overrides, flags.config ?? `${from.dir}/config.json`, {
          presetOptimizerSettings: !configFile || isPreset(configFile),
        })
        const changed = functionChanges(from.meta.model, config.model)
        if (changed.length > 0)
          this.warn(`${args.checkpoint} was trained as another function: ${changed.join(', ')} change what its weights compute, so training starts from a higher loss and must adapt them (not a continuation of that model)`)
      } else {
        config = resolveRunConfig(raw, overrides, flags.config, {presetOptimizerSettings: configFile !== undefined && isPreset(configFile)})
      }
    }
    if (flags['train-only']) {
      const blocks = trainOnlyBlocks(flags['train-only'], from)
      const {train_blocks: _all, ...rest} = config.train
      config.train = blocks ? {...rest, train_blocks: blocks} : rest
    }
    if (!dataDir) throw new InputError('missing --data (-d): a directory made by `npx ligo data prepare`')
    this.note(describeOptimizer(config.train))
    if (config.train.warmup >= config.train.steps && config.train.schedule !== 'constant')
      this.warn(`warmup (${config.train.warmup}) ≥ steps (${config.train.steps}): the learning rate never reaches its peak η ${config.train.lr}${from ? ` (a grown checkpoint carries the post-growth warmup; pass --warmup ${Math.max(0, Math.floor(config.train.steps / 10))} for a short run)` : ''}; consider --warmup ${Math.max(0, Math.floor(config.train.steps / 10))}`)

    const stop = new AbortController()
    let stopSignal: NodeJS.Signals | undefined
    const restore = onStopSignals((signal) => {
      stopSignal = signal
      this.note('stopping: saving a checkpoint at the end of this step (signal again to quit at once)')
      stop.abort()
    })
    let firstStep = 0
    let firstLoss: number | undefined
    try {
      const result = await train({
        config,
        dataDir,
        outDir,
        resume: Boolean(flags.resume),
        resetOptimizer: flags['reset-optimizer'],
        force: flags.force,
        from,
        signal: stop.signal,
        provenance: {backend: info.name, argv: process.argv.slice(2).join(' ')},
        onEvent: (e) => {
          if (e.kind === 'start') {
            firstStep = e.step
            const part = e.trainable < e.params ? `${fmt(e.trainable)} of ${fmt(e.params)} parameters (blocks ${config.train.train_blocks!.join(', ')}; the rest frozen)` : `${fmt(e.params)} parameters`
            this.note(`${e.resumed ? 'resuming' : 'training'} ${part} on ${info.name}: step ${e.step}/${e.steps}, ${fmt(e.flopsPerToken)} FLOPs/token`)
            const t = config.train
            const summary = parametrizationSummary(config.model, schemaOf(config.model), t, t.lr)
            for (const line of describeParametrization(summary, true)) this.note(line)
            const msg = 'msg' in config.model ? config.model.msg : undefined
            if (msg) this.note(`msg: the grown parts' masks are at ${msg.step}/${msg.grow_steps} (m = ${(msg.step / msg.grow_steps).toFixed(3)}) and reach 1 after ${msg.grow_steps - msg.step} more updates`)
            this.note(`schedule: ${t.optimizer}, peak η ${t.lr}, warmup ${t.warmup}, ${t.schedule}${t.schedule === 'constant' ? '' : ` to ${t.min_lr_ratio}·η`} over ${t.steps} steps, batch ${t.batch}${t.accum > 1 ? ` × ${t.accum}` : ''} × ${t.seq}; validation on ${t.eval_batches === 0 ? 'the whole split' : `${t.eval_batches} batches of ${t.batch} × ${t.seq} (${fmt(t.eval_batches * t.batch * t.seq)} tokens)`}`)
          } else if (e.kind === 'step') {
            const r = e.row
            firstLoss ??= r.loss
            this.progress(`step ${r.step}/${e.steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  ${fmt(r.tokens_per_s)} tok/s  ETA ${duration(e.etaS)}`, {done: r.step - firstStep, total: e.steps - firstStep})
          } else if (e.kind === 'eval') {
            this.progressDone()
            this.note(`step ${e.step}: val loss ${e.result.loss.toFixed(4)}  ppl ${e.result.perplexity.toFixed(2)}  ${e.result.bits_per_byte.toFixed(3)} bits/byte  (${fmt(e.result.tokens)} val tokens)`)
          }
        },
      })
      this.progressDone()
      const where = path.join(outDir, 'checkpoint')
      if (result.interrupted) {
        this.note(`stopped at step ${result.step}/${result.steps}; checkpoint saved in ${where}; continue with: npx ligo train --resume ${outDir}`)
        process.exitCode = signalExitCode(stopSignal ?? 'SIGINT')
      } else {
        this.log(`done: ${result.step - firstStep} steps, final loss ${result.final_loss.toFixed(4)}, val loss ${result.val?.loss.toFixed(4)}${result.val ? ` (${fmt(result.val.tokens)} val tokens)` : ''}, ${fmt(result.tokens_per_s)} tokens/s; checkpoint in ${where}`)
        // A run can climb far above where it started without a NaN (too high a learning rate): say so, and fail.
        if (firstLoss !== undefined && result.final_loss > firstLoss + RUNAWAY_NATS)
          throw new DivergenceError(`training went wrong: the loss rose from ${firstLoss.toFixed(4)} at its first step to ${result.final_loss.toFixed(4)} nats/token at step ${result.step} (more than ${RUNAWAY_NATS} above); the checkpoint was saved in ${where} but is worse than where it started — lower --lr or raise --warmup`)
      }
      return result
    } finally {
      restore()
    }
  }
}
