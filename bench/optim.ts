/**
 * Optimizers side by side (issue #6): AdamW, CAME and Adafactor.
 *   1. Optimizer-state bytes per parameter on the GPT presets (vocab 256, seq 128), from each optimizer's
 *      stateBytes() over the schema (schemaOf(modelConfig(...))), and the milliseconds one update takes there
 *      (fastest of the timed updates after JIT warm-up, random weights and gradients). With the native addon built
 *      every optimizer runs its kernels (AdamW `adamwUpdate`, CAME/Adafactor native/optim_factored.cc); each is
 *      also timed as its plain-TS loop ("(TS loop)" rows: the fallback without the addon).
 *   2. Validation loss on Brown after the same number of steps for each optimizer, with the library's train():
 *      same model (gpt-tiny's 4L/128), data order and schedule, each optimizer at its published defaults, at
 *      AdamW's LR; plus CAME at 0.1× that LR and Adafactor with β1 = 0.9. CAME has no bias correction, so over a
 *      short run (β3 = 0.9999: 1 − β3ᵗ ≪ 1) its steps are ≈(1−β1ᵗ)/√(1−β3ᵗ) ≈ 6–17× larger than at steady
 *      state; at AdamW's LR it overshoots (see the research notes, mup_came_reformer.md §3.7).
 * Prints a table and writes .bench/optim.json. About 8 minutes on 2 busy cores with the native backend.
 *   npx tsx bench/optim.ts [--steps 300] [--backend auto|native|wasm|cpu] [--layers 4] [--d-model 128] [--batch 8]
 *                          [--seq 128] [--lr 0.003] [--skip-train (table only; keeps the last Brown results)]
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {type BackendName, initBackend} from '../src/compute/backend.js'
import {adamwStepReference, setNativeFactoredOptimizers} from '../src/compute/optim-kernels.js'
import {nativeAddon} from '../src/compute/native.js'
import {prepareData} from '../src/data/prepare.js'
import {modelConfig, schemaOf} from '../src/model/index.js'
import {type Schema, numel} from '../src/model/schema.js'
import {OPTIMIZERS, type OptimizerKind, makeOptimizer} from '../src/optim/index.js'
import {resolveRunConfig} from '../src/train/config.js'
import {train} from '../src/train/trainer.js'

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}

const PRESETS = [
  {name: '4L/128', n_layer: 4, d_model: 128, n_head: 4},
  {name: '4L/256', n_layer: 4, d_model: 256, n_head: 4},
  {name: '8L/256', n_layer: 8, d_model: 256, n_head: 4},
  {name: '6L/512', n_layer: 6, d_model: 512, n_head: 8},
] as const

/** Each optimizer's resolved defaults, as a run config gives them. */
const settings = (kind: OptimizerKind) => resolveRunConfig({train: {optimizer: kind}}).train

interface MemRow {
  preset: string
  params: number
  optimizer: string
  state_bytes: number
  bytes_per_param: number
  floats_per_param: number
  ms_per_update: number
}

function randomTensors(schema: Schema, scale: number): Map<string, Float32Array> {
  let s = 12345
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * scale
  return new Map(schema.map((p) => [p.name, Float32Array.from({length: numel(p.shape)}, rand)]))
}

function timeUpdates(update: () => void, params: number): number {
  const reps = params > 5e6 ? 5 : 20
  for (let i = 0; i < 10; i++) update() // JIT warm-up: the kernels' loops need a few calls to be optimised
  const ts: number[] = []
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    update()
    ts.push(performance.now() - t0)
  }
  // The fastest of the timed updates: on a shared machine the others measure the neighbours as much as the kernel.
  return Math.min(...ts)
}

function memoryTable(): MemRow[] {
  const rows: MemRow[] = []
  for (const pr of PRESETS) {
    const schema = schemaOf(modelConfig({vocab_size: 256, n_positions: 128, n_layer: pr.n_layer, d_model: pr.d_model, n_head: pr.n_head}))
    const params = schema.reduce((n, p) => n + numel(p.shape), 0)
    const weights = randomTensors(schema, 0.04)
    const grads = randomTensors(schema, 0.002)
    const variants: [string, OptimizerKind, object][] = [...OPTIMIZERS.map((k) => [k, k, {}] as [string, OptimizerKind, object]), ['adafactor β1=0.9', 'adafactor', {beta1: 0.9}]]
    for (const [label, kind, extra] of variants) {
      // CAME and Adafactor run the addon's kernels when it is loaded; time their TS loops too (AdamW's is below).
      const paths = kind !== 'adamw' && nativeAddon() ? [true, false] : [true]
      for (const native of paths) {
        setNativeFactoredOptimizers(native)
        const opt = makeOptimizer(kind, schema, {...settings(kind), ...extra})
        const ms = timeUpdates(() => opt.update(weights, grads, 1e-4), params)
        const bytes = opt.stateBytes()
        rows.push({
          preset: pr.name, params, optimizer: native ? label : `${label} (TS loop)`, state_bytes: bytes, bytes_per_param: bytes / params,
          floats_per_param: bytes / 4 / params, ms_per_update: ms,
        })
      }
      setNativeFactoredOptimizers(true)
    }
    const m = new Map(schema.map((p) => [p.name, [new Float32Array(numel(p.shape)), new Float32Array(numel(p.shape))]]))
    const ms = timeUpdates(() => {
      for (const p of schema) {
        const [mp, vp] = m.get(p.name)!
        adamwStepReference(weights.get(p.name)!, grads.get(p.name)!, mp, vp, {lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 5})
      }
    }, params)
    rows.push({preset: pr.name, params, optimizer: 'adamw (TS loop)', state_bytes: 8 * params, bytes_per_param: 8, floats_per_param: 2, ms_per_update: ms})
  }
  return rows
}

interface LossRow {
  run: string
  optimizer: string
  lr: number
  steps: number
  val_loss: number
  val_bpb: number
  final_train_loss: number
  s_per_step: number
  state_bytes: number
}

async function brownTable(): Promise<{rows: LossRow[]; config: object; backend: string}> {
  const info = await initBackend(arg('backend', 'auto') as BackendName)
  const dataDir = path.join('.bench', 'data', 'brown')
  if (!fs.existsSync(path.join(dataDir, 'meta.json'))) await prepareData({source: {kind: 'brown'}, out: dataDir, force: true})
  const steps = Number(arg('steps', '300'))
  const lr = Number(arg('lr', '0.003'))
  const model = {vocab_size: 256, n_layer: Number(arg('layers', '4')), d_model: Number(arg('d-model', '128')), n_head: 4}
  const base = {steps, batch: Number(arg('batch', '8')), seq: Number(arg('seq', '128')), lr, warmup: Math.round(steps / 10), eval_every: 0, eval_batches: 50, save_every: 0, seed: 1}
  const runs: {run: string; train: {optimizer: OptimizerKind; lr: number; beta1?: number}}[] = [
    {run: 'adamw', train: {optimizer: 'adamw', lr}},
    {run: 'came', train: {optimizer: 'came', lr}},
    {run: 'came 0.1×lr', train: {optimizer: 'came', lr: lr / 10}},
    {run: 'adafactor', train: {optimizer: 'adafactor', lr}},
    {run: 'adafactor β1=0.9', train: {optimizer: 'adafactor', lr, beta1: 0.9}},
  ]
  const rows: LossRow[] = []
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-bench-optim-'))
  for (const [i, {run, train: t}] of runs.entries()) {
    const config = resolveRunConfig({model, train: {...base, ...t}})
    process.stderr.write(`training ${run} lr ${t.lr.toPrecision(3)} for ${steps} steps on ${info.name}...\n`)
    const r = await train({config, dataDir, outDir: path.join(root, String(i))})
    const opt = makeOptimizer(t.optimizer, schemaOf(config.model), config.train)
    rows.push({
      run, optimizer: t.optimizer, lr: t.lr, steps, val_loss: r.val!.loss, val_bpb: r.val!.bits_per_byte, final_train_loss: r.final_loss,
      s_per_step: r.elapsed_s / steps, state_bytes: opt.stateBytes(),
    })
  }
  fs.rmSync(root, {recursive: true, force: true})
  return {rows, config: {model, train: base}, backend: info.name}
}

const mem = memoryTable()
const kernels = nativeAddon() ? `the native addon's kernels (${nativeAddon()!.info().isa}, ${nativeAddon()!.info().threads} threads); "(TS loop)": the plain-TS path` : 'the TS loops (no addon)'
console.log(`\nOptimizer state and update time (vocab 256, seq 128; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${kernels})`)
console.log('preset   params      optimizer                     bytes/param  floats/param  ms/update')
for (const r of mem) {
  console.log(
    `${r.preset.padEnd(8)} ${String(r.params).padEnd(11)} ${r.optimizer.padEnd(29)} ${r.bytes_per_param.toFixed(3).padStart(11)}  ${r.floats_per_param.toFixed(4).padStart(12)}  ${r.ms_per_update.toFixed(1).padStart(9)}`,
  )
}

let brown: Awaited<ReturnType<typeof brownTable>> | undefined
if (!process.argv.includes('--skip-train')) {
  brown = await brownTable()
  const adamw = brown.rows[0].val_loss
  console.log(`\nBrown validation loss after ${brown.rows[0].steps} steps (${JSON.stringify(brown.config)}, backend ${brown.backend})`)
  console.log('run               lr       val loss  vs adamw  bits/byte  train loss  s/step  state bytes')
  for (const r of brown.rows) {
    const rel = ((r.val_loss / adamw - 1) * 100).toFixed(1) + '%'
    console.log(
      `${r.run.padEnd(17)} ${String(Number(r.lr.toPrecision(3))).padEnd(8)} ${r.val_loss.toFixed(4).padStart(8)}  ${rel.padStart(8)}  ${r.val_bpb.toFixed(3).padStart(9)}  ${r.final_train_loss.toFixed(4).padStart(10)}  ${r.s_per_step.toFixed(3).padStart(6)}  ${String(r.state_bytes).padStart(11)}`,
    )
  }
}

fs.mkdirSync('.bench', {recursive: true})
const file = path.join('.bench', 'optim.json')
// --skip-train re-measures the table only and keeps the last Brown results.
if (!brown && fs.existsSync(file)) brown = JSON.parse(fs.readFileSync(file, 'utf8')).brown
fs.writeFileSync(file, JSON.stringify({date: new Date().toISOString(), host: {cpus: os.cpus().length, loadavg: os.loadavg()}, memory: mem, brown}, null, 2) + '\n')
console.log(`\nwrote ${file}`)
