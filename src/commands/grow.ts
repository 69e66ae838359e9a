import {Args, Flags} from '@oclif/core'

import {BaseCommand, duration, fmt} from '../cli/base.js'
import {nonNegative, positive} from '../cli/config-flags.js'
import {etaSeconds} from '../cli/progress.js'
import {onStopSignals} from '../cli/signals.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import {InputError} from '../errors.js'
import {DEPTH_INITS, type DepthInit, WIDTH_INITS, type WidthInit} from '../ligo/operator.js'
import {type GrowResult, LIGO_DEFAULTS, METHODS, type Method, grow} from '../ligo/grow.js'
import {CLONE_DEFAULT, CLONE_SNR_DB, CLONE_VARIANTS, type CloneVariant} from '../ligo/hypercloning.js'
import {MSG_GROW_STEPS} from '../ligo/msg.js'
import {LEMON_DECAY_FRACTION, POST_GROWTH_SCHEDULES, POST_GROWTH_WARMUP, type PostGrowthSchedule} from '../ligo/recipe.js'

export default class Grow extends BaseCommand {
  static summary = 'Grow a trained model wider and/or deeper: learn a LiGO operator (default) or apply a baseline.'
  static description = `Writes a checkpoint directory OUT with the grown model (model.safetensors, config.json), the operator (ligo.safetensors + ligo.json) and provenance (source hash, method, steps, losses before and after, FLOPs spent).
Defaults are the README headline's recipe: LiGO learns for 25 steps (warmup 3, batch 8 × 128, lr 1e-3) from the function-preserving width init (--width-init auto: fp, LEMON-style splits, when the width is a multiple; not the official random init) and a noisy stacking depth init; the command prints what it chose. The grown checkpoint carries its source's training settings with the warmup raised to ${POST_GROWTH_WARMUP} steps (the headline's post-growth schedule), so \`ligo train OUT\` trains the way the headline measured. The before/after validation losses are on the source's evaluation set (what \`ligo eval\` reports by default).
Methods: ligo (learned width+depth operator), stack, interleave, net2net (exactly function-preserving; for BERT, post-LN, only in width and at a multiple of it), zero (new blocks with zero output projections; exact likewise), random (from-scratch init at the target size), msg (Masked Structural Growth: new width, heads, FFN units and blocks masked, the masks ramped 0 → 1 by \`ligo train\` over --grow-steps updates; exact at step 0; gpt2 and llama), hypercloning (width by tiling with W/n splits, --clone-variant; integer width factors; new blocks as net2net's identity blocks; exact).
Any new width works: at a multiple of the old by copies, otherwise by LEMON's average expansion (exact for GPT-2 and Llama; the norms' ε is scaled by old/new width). Where a method meant to keep the function cannot (BERT), the max logit difference at step 0 is reported.
--post-growth-schedule lemon carries LEMON's "same peak, faster decay" instead of the headline's schedule: the decay ends after ${LEMON_DECAY_FRACTION} of the post-warmup steps (train.decay_fraction) and holds.
The head size is kept: new heads are added. Continue with \`ligo train OUT --data ... -o RUN\`.`

  static examples = [
    '<%= config.bin %> <%= command.id %> runs/small --width 256 --depth 8 --data data/brown -o runs/grown',
    '<%= config.bin %> <%= command.id %> runs/small --width 256 --depth 8 --data data/brown --steps 100 --warmup 10 -o runs/grown100   # the paper\'s 100 operator steps',
    '<%= config.bin %> <%= command.id %> runs/small --width 256 --depth 8 --method stack -o runs/stacked',
    '<%= config.bin %> <%= command.id %> runs/small --depth 12 --data data/brown -o runs/deeper',
    '<%= config.bin %> <%= command.id %> runs/small --operator runs/grown/ligo.safetensors -o runs/regrown   # re-apply a learned operator',
    '<%= config.bin %> <%= command.id %> runs/small --width 256 --depth 8 --method msg --grow-steps 500 -o runs/msg   # masks ramp over the first 500 training steps',
    '<%= config.bin %> <%= command.id %> runs/small --width 256 --method hypercloning --clone-variant noisy-diagonal -o runs/cloned',
  ]

  static args = {source: Args.string({description: 'the trained source checkpoint (or run directory)', required: true})}
  static flags = {
    out: Flags.string({char: 'o', description: 'output checkpoint directory', required: true}),
    width: Flags.integer({min: 1, description: 'new residual width (d_model); default: unchanged'}),
    depth: Flags.integer({min: 1, description: 'new number of blocks; default: unchanged'}),
    heads: Flags.integer({min: 1, description: 'new number of heads (default: width / head size)'}),
    ffn: Flags.integer({min: 1, description: 'new FFN width (default: keeps the source FFN/width ratio)'}),
    'kv-heads': Flags.integer({min: 1, description: 'new number of key/value heads (Llama GQA; default: keeps the query heads per kv head)'}),
    method: Flags.option({options: METHODS, default: 'ligo' as Method, description: 'growth method'})(),
    data: Flags.string({char: 'd', description: 'prepared data: required for ligo (learning); used by all for the before/after validation loss'}),
    operator: Flags.string({description: 're-apply a saved operator (ligo.safetensors) to the source'}),
    steps: Flags.integer({min: 1, default: LIGO_DEFAULTS.steps, description: 'operator learning steps', helpGroup: 'LIGO'}),
    lr: Flags.custom<number>({parse: async (s) => positive('--lr', s), default: LIGO_DEFAULTS.lr, description: 'operator learning rate (AdamW, linear decay)', helpGroup: 'LIGO'})(),
    'depth-lr': Flags.custom<number>({parse: async (s) => positive('--depth-lr', s), description: 'learning rate of the depth coefficients (default: --lr)', helpGroup: 'LIGO'})(),
    warmup: Flags.integer({min: 0, default: LIGO_DEFAULTS.warmup, description: 'warmup steps (warns when ≥ steps)', helpGroup: 'LIGO'}),
    batch: Flags.integer({min: 1, default: LIGO_DEFAULTS.batch, description: 'sequences per micro-batch (what memory holds at once)', helpGroup: 'LIGO'}),
    accum: Flags.integer({min: 1, default: LIGO_DEFAULTS.accum, description: 'micro-batches per operator step (gradient accumulation): the operator batch is --batch × --accum sequences', helpGroup: 'LIGO'}),
    seq: Flags.integer({min: 1, default: LIGO_DEFAULTS.seq, description: 'tokens per sequence (capped at the context)', helpGroup: 'LIGO'}),
    'width-init': Flags.option({options: WIDTH_INITS, default: LIGO_DEFAULTS.widthInit as WidthInit, description: 'rand: random convex combinations (official LiGO); select: Net2Net copies; fp: function-preserving copies; auto: fp when the width is a multiple, else rand', helpGroup: 'LIGO'})(),
    'depth-init': Flags.option({options: DEPTH_INITS, default: LIGO_DEFAULTS.depthInit as DepthInit, description: 'stack, interleave (both with --depth-noise), fp: identity new blocks', helpGroup: 'LIGO'})(),
    'depth-noise': Flags.custom<number>({parse: async (s) => nonNegative('--depth-noise', s), default: LIGO_DEFAULTS.depthNoise, description: 'noise on stack/interleave depth coefficients', helpGroup: 'LIGO'})(),
    'full-width': Flags.boolean({default: false, description: 'learn the whole width expansion, not only the new rows ([I; M])', helpGroup: 'LIGO'}),
    'no-width': Flags.boolean({default: false, description: 'keep the width operator at its init (depth-only learning)', helpGroup: 'LIGO'}),
    'no-depth': Flags.boolean({default: false, description: 'keep the depth coefficients at their init (width-only learning)', helpGroup: 'LIGO'}),
    'grow-steps': Flags.integer({min: 1, description: `msg: training updates over which the masks ramp from 0 to 1 (default ${MSG_GROW_STEPS})`, helpGroup: 'MSG / HYPERCLONING'}),
    'clone-variant': Flags.option({options: CLONE_VARIANTS, description: `hypercloning: symmetric (W/n in every block), diagonal (W on the block diagonal), or either with ± noise that cancels on cloned inputs (default ${CLONE_DEFAULT}: without noise the clones stay copies under training)`, helpGroup: 'MSG / HYPERCLONING'})(),
    'clone-snr': Flags.custom<number>({parse: async (s) => positive('--clone-snr', s), description: `hypercloning noisy variants: signal-to-noise ratio in dB (default ${CLONE_SNR_DB}, the paper's)`, helpGroup: 'MSG / HYPERCLONING'})(),
    'post-growth-schedule': Flags.option({options: POST_GROWTH_SCHEDULES, default: 'rewarm' as PostGrowthSchedule, description: `the training settings the grown checkpoint carries: rewarm (the headline's: the source's, warmup ${POST_GROWTH_WARMUP}) or lemon (the same, decay over ${LEMON_DECAY_FRACTION} of the steps)`})(),
    'eval-batches': Flags.integer({min: 0, description: "validation batches for the before/after loss (default: the source's evaluation set, train.eval_batches × train.batch sequences; 0 = skip)"}),
    seed: Flags.integer({min: 0, default: 1337, description: 'seed of the operator init and the data order'}),
    force: Flags.boolean({default: false, description: 'replace an earlier checkpoint in OUT (refused when OUT holds other files or the source)'}),
  }

  async run(): Promise<GrowResult> {
    const {args, flags} = await this.parse(Grow)
    const info = await this.useBackend(flags.backend)
    const sized = flags.width || flags.depth || flags.heads || flags.ffn || flags['kv-heads']
    if (flags.operator && sized) throw new InputError('--operator fixes the target size: drop --width/--depth/--heads/--ffn/--kv-heads')
    if (!flags.operator && !sized) throw new InputError('nothing to grow: give --width and/or --depth (or --heads/--ffn/--kv-heads), or --operator')
    if (flags['grow-steps'] !== undefined && flags.method !== 'msg') throw new InputError('--grow-steps is the ramp of --method msg')
    if ((flags['clone-variant'] !== undefined || flags['clone-snr'] !== undefined) && flags.method !== 'hypercloning')
      throw new InputError('--clone-variant and --clone-snr belong to --method hypercloning')
    const source = loadCheckpoint(args.source, {onProgress: this.ioProgress()})
    const io = this.ioProgress()
    const stop = new AbortController()
    const restore = onStopSignals(() => stop.abort())
    let t0 = performance.now()
    let tEval = t0
    try {
      const r = await grow({
        source,
        target: {width: flags.width, depth: flags.depth, heads: flags.heads, ffn: flags.ffn, kvHeads: flags['kv-heads']},
        method: flags.method,
        out: flags.out,
        force: flags.force,
        dataDir: flags.data,
        operatorFile: flags.operator,
        seed: flags.seed,
        evalBatches: flags['eval-batches'],
        growSteps: flags['grow-steps'],
        clone: {variant: flags['clone-variant'], snrDb: flags['clone-snr']},
        postGrowth: flags['post-growth-schedule'],
        signal: stop.signal,
        provenance: {backend: info.name, argv: process.argv.slice(2).join(' ')},
        ligo: {
          steps: flags.steps, lr: flags.lr, depthLr: flags['depth-lr'], warmup: flags.warmup, batch: flags.batch, accum: flags.accum, seq: flags.seq,
          widthInit: flags['width-init'], depthInit: flags['depth-init'], depthNoise: flags['depth-noise'],
          fullWidth: flags['full-width'], learnWidth: !flags['no-width'], learnDepth: !flags['no-depth'],
        },
        onEvent: (e) => {
          if (e.kind === 'warn') this.warn(e.message)
          else if (e.kind === 'start') {
            this.note(`growing ${e.small.n_layer}×${e.small.d_model} → ${e.large.n_layer}×${e.large.d_model} (${e.large.n_head} heads, FFN ${e.large.d_ffn}, ${e.large.param === 'mup' ? 'µP' : 'SP'}) by ${e.method}${e.steps ? `: learning ${fmt(e.learnable)} operator parameters` : ''}`)
            if (e.steps) {
              const src = (k: string) => (this.argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)) ? '' : ' (default)')
              this.note(`operator: ${flags.steps} steps${src('steps')}, warmup ${flags.warmup}${src('warmup')}, batch ${flags.batch}${src('batch')}${flags.accum > 1 ? ` × ${flags.accum} micro-batches` : ''} × ${Math.min(flags.seq, e.large.n_positions)}, lr ${flags.lr}${src('lr')}, width init ${flags['width-init']}${flags['width-init'] === 'auto' ? ` → ${e.large.d_model % e.small.d_model === 0 ? 'fp' : 'rand'}` : ''}, depth init ${flags['depth-init']} (noise ${flags['depth-noise']})`)
            }
            t0 = performance.now()
          } else if (e.kind === 'step') {
            const eta = etaSeconds((performance.now() - t0) / 1000, {done: e.step, total: e.steps})
            this.progress(`operator step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  |g| ${e.gradNorm.toFixed(3)}  ETA ${duration(eta ?? Number.NaN)}`, {done: e.step, total: e.steps})
          } else if (e.kind === 'eval-batch') {
            if (e.done === 1) tEval = performance.now()
            const eta = etaSeconds((performance.now() - tEval) / 1000, {done: e.done - 1, total: e.total - 1})
            this.progress(`val loss at ${e.when === 'init' ? 'initialisation' : 'the end'}: batch ${e.done}/${e.total}  ETA ${duration(eta ?? Number.NaN)}`, {done: e.done, total: e.total})
          } else if (e.kind === 'io') io(e)
          else if (e.kind === 'eval') {
            this.progressDone()
            this.note(`val loss at ${e.when === 'init' ? 'initialisation' : 'the end'}: ${e.result.loss.toFixed(4)} (${fmt(e.result.tokens)} val tokens)`)
          }
        },
      })
      this.progressDone()
      this.log(`grown model in ${r.out}: ${fmt(r.params.small)} → ${fmt(r.params.large)} parameters${r.val_final !== undefined ? `, val loss ${r.val_init?.toFixed(4)} → ${r.val_final.toFixed(4)}` : ''}${r.steps ? `, ${fmt(r.flops)} FLOPs in ${r.steps} operator steps` : ''}`)
      const fc = r.function_check
      if (fc?.exact) this.log(`function preserving (exact by construction): ${fc.reason}`)
      else if (fc)
        this.log(`not function preserving: max |logit difference| ${fc.max_abs_logit_diff!.toExponential(2)} at step 0 (source's max |logit| ${fc.max_abs_source_logit!.toFixed(3)}, ${fc.tokens} tokens)`)
      const t = source.meta.train
      if (t) this.note(`next: npx ligo train ${r.out} --data ${flags.data ?? 'DATA'} --steps N -o RUN  (the source's schedule, η ${t.lr}${r.large.param === 'mup' ? ' with µP per-tensor rates for the new widths' : ''}, warmup ${Math.max(t.warmup, POST_GROWTH_WARMUP)}${flags['post-growth-schedule'] === 'lemon' ? `, decay over ${LEMON_DECAY_FRACTION} of the steps: LEMON's` : ": the headline's"} post-growth schedule)`)
      if (flags.method === 'msg') this.note(`msg: the new parts are masked; \`ligo train\` ramps the masks to 1 over its first ${flags['grow-steps'] ?? MSG_GROW_STEPS} updates (until then \`ligo export\` refuses the model)`)
      return r
    } finally {
      restore()
    }
  }
}

