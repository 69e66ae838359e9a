import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {
  ALL_PRESETS, BENCH_PRESETS, type BenchShape, type MachineInfo, type NumpyCeiling, type OperatorStepBenchResult, PRESET_NAMES,
  type PeerResult, type PresetName, type StepBenchResult, TORCH_INSTALL_HINT, type TorchInfo, benchOperatorStep, benchTrainingStep, findTorch,
  machineInfo, nativeGemmCeiling, numpyCeiling, runTorchPeer, stepTokens, torchGemmCeiling,
} from '../compute/bench.js'
import {PACKAGE_ROOT} from '../compute/native.js'
import {InputError, LigoError} from '../errors.js'

export interface PresetReport {
  name: string
  layers: number
  d_model: number
  heads: number
  vocab: number
  batch: number
  /** Micro-batches per step: a step is batch × accum × seq tokens. */
  accum: number
  seq: number
  params: number
  steps: number
  warmup: number
  tokens_per_s: number
  ms_per_step: number
  ms_per_step_all: number[]
  flops_per_token: number
  flops_per_token_peer_convention: number
  gflops: number
  gflops_peer_convention: number
  pct_of_native_gemm_ceiling: number | null
  pct_of_numpy_ceiling: number | null
  peak_rss_mib: number
  backend: string
  loss: number
  ffn_chunks: number
  loss_chunks: number
  breakdown_ms: StepBenchResult['breakdown_ms']
  profile?: StepBenchResult['profile']
  peer?: {
    tokens_per_s: number
    ms_per_step: number
    peak_rss_mib: number
    gflops_peer_convention: number
    /** ours / peer tokens per second (> 1: we are faster). */
    ratio: number
    /** ours / peer peak RSS (the goal: ≤ 1.5). */
    rss_ratio: number
    blas: string
    torch: string
  }
  peer_error?: string
  /** One LiGO operator step growing `--ligo-from` into this shape on the same tokens (its own child process). */
  ligo?: OperatorReport
  ligo_error?: string
  /** 1-minute load average just before this shape ran. */
  loadavg_1m: number
}

export interface OperatorReport {
  from: {layers: number; d_model: number; heads: number}
  engine: string
  operator_params: number
  materialize_flops: number
  ms_per_step: number
  ms_per_step_all: number[]
  tokens_per_s: number
  /** The operator step's time over the same shape's training step in this run (issue #33's goal: ≤ 1.5). */
  time_ratio_to_train_step: number
  /**
   * The same ratio with the training step's forward and backward taken from the operator step itself (its `model`
   * part is exactly that, on the same tokens, seconds apart) plus the training step's clip and AdamW: insensitive
   * to the machine's load changing between the two children.
   */
  time_ratio_same_step: number
  breakdown_ms: OperatorStepBenchResult['breakdown_ms']
  peak_rss_mib: number
  loss: number
  /** 1-minute load average just before it ran. */
  loadavg_1m: number
}

export interface BenchReport {
  presets: PresetReport[]
  ceiling: {
    n: number
    native_gemm_gflops: number | null
    native_gemm_gflops_best: number | null
    native: string
    numpy_gflops: number | null
    numpy_gflops_best: number | null
    numpy: string
    torch_gemm_gflops?: number | null
    torch?: string
  }
  flops_note: string
  machine: MachineInfo
  file?: string
}

const FLOPS_NOTE = 'gflops = trainFlopsPerToken (6·N_matmul incl. the tied V×d head + 12·L·T·A) × tokens/s; ' +
  'gflops_peer_convention = (6·N_nonembedding + 12·L·T·d) × tokens/s, the docs/compute.md peer-table convention (tied head not counted); ' +
  '% of ceiling = gflops / (1024³ sgemm GFLOP/s measured in this run)'

export default class Bench extends BaseCommand {
  static summary = 'Measure training throughput (tokens/s, GFLOP/s, % of the matmul ceiling, peak RSS) of the GPT-2 model, optionally against PyTorch.'
  static description = `Runs real training steps (lossAndGrads + global-norm clip + AdamW, what \`ligo train\` does per step) on random token batches: --warmup steps, then --steps timed steps whose median is reported. Each shape runs in a fresh child process, so peak RSS is per shape. The matmul ceiling (a 1024³ float32 product through the native addon, and through numpy/OpenBLAS with 2 threads when numpy imports) is measured in the same run.

Presets (vocab 256, seq 128): a = 4 layers/128 wide/4 heads/batch 16, b = 4/256/4/16, c = 8/256/4/16, d = 6/512/8/8, e = 12/768/12/4. --all runs a–d (add --preset e for the slow one). GPT-2 sizes (vocab 50,257, seq 512, a step = 8 micro-batches of 1 sequence): gpt2-small = 12/768/12, gpt2-medium = 24/1024/16 (minutes a step, several GiB). --layers/--d-model/--heads/--vocab/--seq/--batch/--accum override a preset's values (or preset a's when none is named).

--peer torch runs the same model and step in PyTorch (bench/peer_torch.py, 2 threads, the OpenMP OpenBLAS when installed) and prints ours/peer. --ligo-from SOURCE also times one LiGO operator step (what \`ligo grow --method ligo\` does per step) growing SOURCE (a preset, or LAYERSxWIDTHxHEADS) into every larger shape, on the same tokens, and reports it as a multiple of that shape's training step. Results are also written to .bench/bench-<date>.json.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --preset a',
    '<%= config.bin %> <%= command.id %> --all --peer torch',
    '<%= config.bin %> <%= command.id %> --preset gpt2-small --preset gpt2-medium --ligo-from gpt2-small --peer torch --steps 2 --warmup 1',
    '<%= config.bin %> <%= command.id %> --layers 2 --d-model 64 --heads 2 --seq 64 --batch 4 --steps 5 --json',
  ]

  static flags = {
    preset: Flags.option({options: PRESET_NAMES, multiple: true, description: 'a preset shape (repeatable)'})(),
    all: Flags.boolean({description: 'presets a, b, c and d', default: false}),
    layers: Flags.integer({min: 1, description: 'blocks (n_layer)'}),
    'd-model': Flags.integer({min: 1, description: 'residual width'}),
    heads: Flags.integer({min: 1, description: 'attention heads (must divide --d-model)'}),
    vocab: Flags.integer({min: 2, description: 'vocabulary size (default 256)'}),
    seq: Flags.integer({min: 1, description: 'tokens per sequence (default 128)'}),
    batch: Flags.integer({min: 1, description: 'sequences per micro-batch'}),
    accum: Flags.integer({min: 1, description: 'micro-batches per step (gradient accumulation; default: the preset\'s, else 1)'}),
    'loss-chunks': Flags.integer({min: 1, description: 'compute the logits and loss in N row chunks, recomputed in backward (model.loss_chunks)'}),
    'ffn-chunks': Flags.integer({min: 1, description: 'compute each FFN in N row chunks, recomputed in backward (model.ffn_chunks)'}),
    'ligo-from': Flags.string({description: 'also time a LiGO operator step growing this source into each larger shape: a preset name or LAYERSxWIDTHxHEADS (e.g. 12x768x12)'}),
    'operator-step': Flags.boolean({hidden: true, default: false, description: 'with --in-process: time operator steps from --ligo-from instead of training steps'}),
    steps: Flags.integer({min: 1, default: 10, description: 'timed steps (the median is reported)'}),
    warmup: Flags.integer({min: 0, default: 3, description: 'untimed warm-up steps first'}),
    peer: Flags.option({options: ['torch'] as const, description: 'also run the PyTorch peer and report ours/peer'})(),
    'peer-threads': Flags.integer({min: 1, default: 2, description: 'threads for the PyTorch peer and numpy'}),
    profile: Flags.boolean({default: false, description: 'profile one extra step: time per tfjs kernel (native fused ops are not kernels)'}),
    'out-dir': Flags.string({default: '.bench', description: 'where bench-<date>.json goes ("" to skip writing)'}),
    'in-process': Flags.boolean({hidden: true, default: false, description: 'run one shape in this process (the per-shape child)'}),
  }

  async run(): Promise<BenchReport | StepBenchResult | OperatorStepBenchResult> {
    const {flags} = await this.parse(Bench)
    const shapes = resolveShapes(flags)

    const from = flags['ligo-from'] === undefined ? undefined : parseSource(flags['ligo-from'])
    if (flags['in-process'] && flags['operator-step']) {
      if (shapes.length !== 1 || !from) throw new InputError('--operator-step runs exactly one shape and needs --ligo-from')
      await this.useBackend(flags.backend)
      const r = await benchOperatorStep(from, shapes[0], {steps: flags.steps, warmup: flags.warmup,
        onStep: (i, n, ms) => this.progress(`${shapes[0].name}: operator step ${i}/${n} ${ms.toFixed(0)} ms`)})
      this.progressDone()
      this.log(`operator step ${from.layers}×${from.d_model} → ${r.to.layers}×${r.to.d_model} on ${r.backend}/${r.engine}: ${r.ms_per_step.toFixed(1)} ms/step, ` +
        `${r.tokens_per_s.toFixed(0)} tokens/s, peak RSS ${r.peak_rss_mib.toFixed(0)} MiB (this process)`)
      return r
    }
    if (flags['in-process']) {
      if (shapes.length !== 1) throw new InputError('--in-process runs exactly one shape')
      await this.useBackend(flags.backend)
      const r = await benchTrainingStep(shapes[0], {steps: flags.steps, warmup: flags.warmup, profile: flags.profile,
        onStep: (i, n, ms) => this.progress(`${shapes[0].name}: step ${i}/${n} ${ms.toFixed(0)} ms`)})
      this.progressDone()
      this.log(`${r.name} on ${r.backend}: ${r.ms_per_step.toFixed(1)} ms/step, ${r.tokens_per_s.toFixed(0)} tokens/s, ` +
        `${r.gflops.toFixed(1)} GFLOP/s, peak RSS ${r.peak_rss_mib.toFixed(0)} MiB (this process)`)
      return r
    }

    const machine = machineInfo()
    this.note(`${machine.cpu}, ${machine.cores} cores, node ${machine.node}; native addon: ${machine.native ? `${machine.native.isa}, ${machine.native.threads} threads` : 'not loaded'}`)
    this.progress('measuring the matmul ceiling (1024³ float32)')
    const nat = nativeGemmCeiling(1024)
    const np = numpyCeiling(1024, flags['peer-threads'])
    this.progressDone()
    const ceiling: BenchReport['ceiling'] = {
      n: 1024,
      native_gemm_gflops: 'error' in nat ? null : nat.gflops,
      native_gemm_gflops_best: 'error' in nat ? null : nat.gflops_best,
      native: 'error' in nat ? nat.error : `native addon sgemm (${nat.isa}, ${nat.threads} threads)`,
      numpy_gflops: 'error' in np ? null : np.gflops,
      numpy_gflops_best: 'error' in np ? null : np.gflops_best,
      numpy: 'error' in np ? np.error : describeNumpy(np, flags['peer-threads']),
    }
    if ('error' in np) this.note(`no numpy ceiling: ${np.error}`)

    let torch: TorchInfo | undefined
    if (flags.peer === 'torch') {
      const t = findTorch()
      if ('error' in t) {
        this.note(`PyTorch peer skipped: ${t.error}`)
        this.note(TORCH_INSTALL_HINT)
      } else {
        torch = t
        const g = torchGemmCeiling(t, 1024, flags['peer-threads'])
        ceiling.torch_gemm_gflops = 'error' in g ? null : g.gflops
        ceiling.torch = 'error' in g ? g.error : `torch ${t.torch} torch.mm, ${flags['peer-threads']} threads, ${g.blas}`
      }
    }
    this.note(`ceiling 1024³: native ${fmtN(ceiling.native_gemm_gflops)} GFLOP/s, numpy ${fmtN(ceiling.numpy_gflops)} GFLOP/s` +
      (ceiling.torch ? `, torch ${fmtN(ceiling.torch_gemm_gflops ?? null)} GFLOP/s (${ceiling.torch})` : ''))

    const presets: PresetReport[] = []
    for (const s of shapes) {
      this.progress(`${s.name}: ${s.layers}L d${s.d_model} ${s.heads}h batch ${s.batch} seq ${s.seq}: ${flags.warmup} warm-up + ${flags.steps} timed steps`)
      const load = os.loadavg()[0]
      const ours = runChild(s, flags) as StepBenchResult
      const rep = report(ours, ceiling, load)
      if (torch) {
        this.progress(`${s.name}: PyTorch peer`)
        const p = runTorchPeer(torch, s, {steps: flags.steps, warmup: flags.warmup, threads: flags['peer-threads']})
        if ('error' in p) {
          rep.peer_error = p.error
          this.progressDone()
          this.note(`${s.name}: ${p.error}`)
        } else {
          rep.peer = peerReport(rep, p)
        }
      }
      if (from && grows(from, s)) {
        this.progress(`${s.name}: LiGO operator step ${from.layers}×${from.d_model} → ${s.layers}×${s.d_model}`)
        const load = os.loadavg()[0]
        try {
          const o = runChild(s, flags, from) as OperatorStepBenchResult
          rep.ligo = {from, engine: o.engine, operator_params: o.operator_params, materialize_flops: o.materialize_flops,
            ms_per_step: o.ms_per_step, ms_per_step_all: o.ms_per_step_all, tokens_per_s: o.tokens_per_s,
            time_ratio_to_train_step: o.ms_per_step / rep.ms_per_step,
            time_ratio_same_step: o.ms_per_step / (o.breakdown_ms.model + rep.breakdown_ms.clip + rep.breakdown_ms.adamw), breakdown_ms: o.breakdown_ms, peak_rss_mib: o.peak_rss_mib,
            loss: o.loss, loadavg_1m: load}
        } catch (error) {
          rep.ligo_error = (error as Error).message
          this.progressDone()
          this.note(`${s.name}: ${rep.ligo_error}`)
        }
      } else if (from) {
        this.note(`${s.name}: no operator step (${from.layers}×${from.d_model}×${from.heads} does not grow into it)`)
      }
      this.progressDone()
      presets.push(rep)
      this.note(line(rep))
    }

    const out: BenchReport = {presets, ceiling, flops_note: FLOPS_NOTE, machine}
    if (flags['out-dir']) {
      fs.mkdirSync(flags['out-dir'], {recursive: true})
      const file = path.join(flags['out-dir'], `bench-${machine.date.replace(/[:.]/g, '-')}.json`)
      out.file = file
      fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
    }
    this.renderTable(out, flags.profile)
    return out
  }

  private renderTable(r: BenchReport, profile: boolean): void {
    if (this.jsonEnabled()) return
    const peer = r.presets.some((p) => p.peer)
    const head = ['preset', 'L/d/H/B[×accum]', 'params', 'backend', 'ms/step', 'tok/s', 'GFLOP/s', 'GF/s peer-conv', '%native', '%numpy', 'peak RSS MiB']
    if (peer) head.push('torch ms/step', 'torch tok/s', 'torch GF/s', 'torch RSS MiB', 'ours/torch tok/s', 'RSS ours/torch')
    const rows = r.presets.map((p) => {
      const cells = [p.name, `${p.layers}/${p.d_model}/${p.heads}/${p.batch}${p.accum > 1 ? `×${p.accum}` : ''}`, (p.params / 1e6).toFixed(2) + 'M', p.backend,
        p.ms_per_step.toFixed(1), p.tokens_per_s.toFixed(0), p.gflops.toFixed(1), p.gflops_peer_convention.toFixed(1),
        pct(p.pct_of_native_gemm_ceiling), pct(p.pct_of_numpy_ceiling), p.peak_rss_mib.toFixed(0)]
      if (peer) {
        const q = p.peer
        cells.push(...(q ? [q.ms_per_step.toFixed(1), q.tokens_per_s.toFixed(0), q.gflops_peer_convention.toFixed(1), q.peak_rss_mib.toFixed(0),
          q.ratio.toFixed(2) + '×', q.rss_ratio.toFixed(2) + '×'] : ['n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']))
      }
      return cells
    })
    const w = head.map((h, c) => Math.max(h.length, ...rows.map((x) => x[c].length)))
    const fmtRow = (cells: string[]) => cells.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ')
    this.log('')
    this.log(`ligo bench, ${r.machine.date}: ${r.machine.cpu}, ${r.machine.cores} cores, node ${r.machine.node}, ` +
      `load average ${r.machine.loadavg_1m.toFixed(1)} at start${r.machine.loadavg_1m > r.machine.cores ? ' (busy machine: timings are noisy)' : ''}`)
    this.log(`ceiling (1024³ float32): native ${fmtN(r.ceiling.native_gemm_gflops)} GFLOP/s [${r.ceiling.native}]; ` +
      `numpy ${fmtN(r.ceiling.numpy_gflops)} GFLOP/s [${r.ceiling.numpy}]` +
      (r.ceiling.torch ? `; torch ${fmtN(r.ceiling.torch_gemm_gflops ?? null)} GFLOP/s [${r.ceiling.torch}]` : ''))
    this.log(fmtRow(head))
    for (const x of rows) this.log(fmtRow(x))
    this.log(`(${FLOPS_NOTE})`)
    const ops = r.presets.filter((p) => p.ligo)
    if (ops.length > 0) {
      this.log('')
      const ohead = ['LiGO operator step', 'tokens/step', 'engine', 'ms/step', 'tok/s', '× train step', '× (same step)', 'peak RSS MiB', 'materialize', 'model fwd+bwd', 'backward', 'update']
      const orows = ops.map((p) => {
        const o = p.ligo!
        const b = o.breakdown_ms
        return [`${o.from.layers}×${o.from.d_model} → ${p.layers}×${p.d_model} (${p.name})`, String(p.batch * p.accum * p.seq), o.engine,
          o.ms_per_step.toFixed(0), o.tokens_per_s.toFixed(1), o.time_ratio_to_train_step.toFixed(2) + '×', o.time_ratio_same_step.toFixed(2) + '×',
          o.peak_rss_mib.toFixed(0),
          `${b.materialize.toFixed(0)} ms`, `${b.model.toFixed(0)} ms`, `${b.backward.toFixed(0)} ms`, `${b.update.toFixed(0)} ms`]
      })
      const ow = ohead.map((h, c) => Math.max(h.length, ...orows.map((x) => x[c].length)))
      const ofmt = (cells: string[]) => cells.map((x, c) => (c === 0 ? x.padEnd(ow[c]) : x.padStart(ow[c]))).join('  ')
      this.log(ofmt(ohead))
      for (const x of orows) this.log(ofmt(x))
      this.log('(× train step: the operator step\'s time over the same shape\'s training step measured above, same tokens; goal ≤ 1.5×. ' +
        '× (same step): over its own model forward+backward plus the training step\'s clip and AdamW, immune to load changing between the two)')
    }
    for (const p of r.presets) {
      const b = p.breakdown_ms
      this.log(`${p.name}: step = loss+grads ${b.loss_and_grads.toFixed(1)} ms, clip + NaN/Inf check ${b.clip.toFixed(1)} ms, AdamW ${b.adamw.toFixed(1)} ms` +
        (p.peer ? `; torch peer: ${p.peer.blas}` : '') + (p.peer_error ? `; peer failed: ${p.peer_error}` : ''))
      if (profile && p.profile) {
        const top = p.profile.kernels.slice(0, 10).map((k) => `${k.name} ${k.ms.toFixed(1)} ms/${k.calls}`).join(', ')
        this.log(`   profiled step ${p.profile.step_ms.toFixed(0)} ms, tfjs kernels ${p.profile.kernel_ms.toFixed(0)} ms: ${top}`)
      }
    }
    if (r.presets.some((p) => p.peer)) {
      const ok = r.presets.filter((p) => p.peer && p.peer.rss_ratio <= 1.5).length
      this.log(`memory goal (peak RSS ≤ 1.5× PyTorch's): met on ${ok}/${r.presets.filter((p) => p.peer).length} shapes`)
    }
    if (r.file) this.log(`wrote ${r.file}`)
  }
}

type BenchFlags = {
  preset?: PresetName[]
  all: boolean
  layers?: number
  'd-model'?: number
  heads?: number
  vocab?: number
  seq?: number
  batch?: number
  accum?: number
  'loss-chunks'?: number
  'ffn-chunks'?: number
  steps: number
  warmup: number
  profile: boolean
  backend: string
}

function resolveShapes(f: BenchFlags): BenchShape[] {
  const names: PresetName[] = [...(f.all ? ALL_PRESETS : []), ...(f.preset ?? [])].filter((n, i, a) => a.indexOf(n) === i)
  const custom = f.layers !== undefined || f['d-model'] !== undefined || f.heads !== undefined || f.vocab !== undefined ||
    f.seq !== undefined || f.batch !== undefined || f.accum !== undefined
  if (custom && names.length > 1) throw new InputError('--layers/--d-model/--heads/--vocab/--seq/--batch/--accum override one preset: name at most one')
  const chunks = (s: BenchShape): BenchShape => ({...s, ...(f['loss-chunks'] ? {loss_chunks: f['loss-chunks']} : {}), ...(f['ffn-chunks'] ? {ffn_chunks: f['ffn-chunks']} : {})})
  const base = BENCH_PRESETS[names[0] ?? 'a']
  if (!custom) return (names.length > 0 ? names : ['a' as const]).map((n) => chunks({...BENCH_PRESETS[n]}))
  const s: BenchShape = chunks({
    name: names.length === 1 ? `${names[0]}*` : 'custom',
    layers: f.layers ?? base.layers,
    d_model: f['d-model'] ?? base.d_model,
    heads: f.heads ?? base.heads,
    vocab: f.vocab ?? base.vocab,
    seq: f.seq ?? base.seq,
    batch: f.batch ?? base.batch,
    accum: f.accum ?? base.accum ?? 1,
  })
  if (s.d_model % s.heads !== 0) throw new InputError(`--heads ${s.heads} must divide --d-model ${s.d_model}`)
  return [s]
}

/** `--ligo-from`: a preset's or LAYERSxWIDTHxHEADS's layers, width and heads. */
function parseSource(v: string): {layers: number; d_model: number; heads: number} {
  if ((PRESET_NAMES as readonly string[]).includes(v)) {
    const p = BENCH_PRESETS[v as PresetName]
    return {layers: p.layers, d_model: p.d_model, heads: p.heads}
  }
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(v)
  if (!m) throw new InputError(`--ligo-from ${v}: expected a preset (${PRESET_NAMES.join(', ')}) or LAYERSxWIDTHxHEADS, e.g. 12x768x12`)
  const [layers, d_model, heads] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (layers < 1 || heads < 1 || d_model % heads !== 0) throw new InputError(`--ligo-from ${v}: needs ≥ 1 layer and heads dividing the width`)
  return {layers, d_model, heads}
}

/** Whether growing `from` into shape `s` is a growth (wider or deeper, never smaller, same head size). */
function grows(from: {layers: number; d_model: number; heads: number}, s: BenchShape): boolean {
  return s.layers >= from.layers && s.d_model >= from.d_model && (s.layers > from.layers || s.d_model > from.d_model) &&
    s.d_model / s.heads === from.d_model / from.heads
}

/**
 * Runs one shape in a fresh `ligo bench --in-process --json` child (per-shape peak RSS) and returns its result: a
 * training step, or with `from` a LiGO operator step growing `from` into the shape.
 */
function runChild(s: BenchShape, f: BenchFlags, from?: {layers: number; d_model: number; heads: number}): StepBenchResult | OperatorStepBenchResult {
  const bin = path.join(PACKAGE_ROOT, 'bin', 'run.js')
  const args = [bin, 'bench', '--in-process', '--json', '--backend', f.backend,
    '--layers', s.layers, '--d-model', s.d_model, '--heads', s.heads, '--vocab', s.vocab, '--seq', s.seq, '--batch', s.batch,
    '--accum', s.accum ?? 1, '--loss-chunks', s.loss_chunks ?? 1, '--ffn-chunks', s.ffn_chunks ?? 1, '--steps', f.steps, '--warmup', f.warmup, ...(f.profile && !from ? ['--profile'] : []),
    ...(from ? ['--operator-step', '--ligo-from', `${from.layers}x${from.d_model}x${from.heads}`] : [])].map(String)
  const r = spawnSync(process.execPath, args, {encoding: 'utf8', timeout: 7_200_000, maxBuffer: 64 << 20})
  let parsed: unknown
  try {
    parsed = JSON.parse(r.stdout)
  } catch {
    parsed = undefined
  }
  if (r.status !== 0 || !parsed || typeof parsed !== 'object' || !('tokens_per_s' in parsed)) {
    const err = parsed && typeof parsed === 'object' && 'error' in parsed ? JSON.stringify((parsed as {error: unknown}).error) : ''
    const why = r.error?.message ?? (err || (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | '))
    throw new LigoError(`bench of ${from ? 'an operator step into ' : ''}shape ${s.name} failed (exit ${r.status ?? r.signal}): ${why}`, {code: 'E_BENCH'})
  }
  return from ? (parsed as OperatorStepBenchResult) : {...(parsed as StepBenchResult), name: s.name}
}

function report(o: StepBenchResult, c: BenchReport['ceiling'], loadavg: number): PresetReport {
  const share = (x: number | null) => (x && x > 0 ? (100 * o.gflops) / x : null)
  return {
    name: o.name, layers: o.layers, d_model: o.d_model, heads: o.heads, vocab: o.vocab, batch: o.batch, accum: o.accum, seq: o.seq, params: o.params,
    steps: o.steps, warmup: o.warmup, tokens_per_s: o.tokens_per_s, ms_per_step: o.ms_per_step, ms_per_step_all: o.ms_per_step_all,
    flops_per_token: o.flops_per_token, flops_per_token_peer_convention: o.flops_per_token_peer_convention,
    gflops: o.gflops, gflops_peer_convention: o.gflops_peer_convention,
    pct_of_native_gemm_ceiling: share(c.native_gemm_gflops), pct_of_numpy_ceiling: share(c.numpy_gflops),
    peak_rss_mib: o.peak_rss_mib, backend: o.backend, loss: o.loss, ffn_chunks: o.ffn_chunks ?? 1, loss_chunks: o.loss_chunks ?? 1, breakdown_ms: o.breakdown_ms,
    ...(o.profile ? {profile: o.profile} : {}),
    loadavg_1m: loadavg,
  }
}

function peerReport(ours: PresetReport, p: PeerResult): NonNullable<PresetReport['peer']> {
  return {
    tokens_per_s: p.tokens_per_s,
    ms_per_step: p.ms_per_step,
    peak_rss_mib: p.peak_rss_mib,
    gflops_peer_convention: (ours.flops_per_token_peer_convention * p.tokens_per_s) / 1e9,
    ratio: ours.tokens_per_s / p.tokens_per_s,
    rss_ratio: ours.peak_rss_mib / p.peak_rss_mib,
    blas: p.blas,
    torch: p.torch,
  }
}

function describeNumpy(np: NumpyCeiling, threads: number): string {
  const blas = np.blas_libs.length > 0 ? np.blas_libs.join(', ') : 'BLAS unknown'
  return `numpy ${np.numpy} (${np.python}), ${threads} threads, ${blas}`
}

function line(p: PresetReport): string {
  let s = `${p.name}: ${p.ms_per_step.toFixed(1)} ms/step, ${p.tokens_per_s.toFixed(0)} tokens/s, ${p.gflops.toFixed(1)} GFLOP/s ` +
    `(${p.gflops_peer_convention.toFixed(1)} peer convention), ${pct(p.pct_of_native_gemm_ceiling)} of native sgemm, peak RSS ${p.peak_rss_mib.toFixed(0)} MiB`
  if (p.peer) s += `; torch ${p.peer.ms_per_step.toFixed(1)} ms/step, ${p.peer.tokens_per_s.toFixed(0)} tokens/s, ${p.peer.peak_rss_mib.toFixed(0)} MiB → ours/torch ${p.peer.ratio.toFixed(2)}×, RSS ${p.peer.rss_ratio.toFixed(2)}×`
  return s
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(0)}%`)
const fmtN = (x: number | null) => (x === null ? 'n/a' : x.toFixed(1))
