/**
 * Reformer's memory savers (issue #7): peak memory and step time of one training step (forward + backward,
 * src/train/step.ts `lossAndGrads`) of the real GPT-2 model,
 *  - by depth: L = 4, 12, 24 blocks, standard vs reversible (and reversible + chunked FFN/loss), C 128, batch 4, T 128;
 *  - by length: T = 256 … 4096 (--lengths), full vs shared-QK LSH attention with its defaults (chunk 64, buckets
 *    2T/64 as trax, 2 rounds), and LSH + reversible + chunked FFN/loss (the whole Reformer), 2 blocks, C 64, batch 1;
 *    --old-default adds LSH with 8 fixed buckets (the default before lsh_chunk: chunk 2T/8, quadratic in T).
 * Each configuration runs in a fresh child process (1 warm-up step, `--steps` timed steps, then one step with
 * the engine's tensor bookkeeping hooked), which reports:
 *  - buffers_peak_mib ("tensor peak"): the peak of live tensor data during that step, each buffer counted once;
 *    it includes the parameter tensors and their gradients;
 *  - minus_params_mib: that peak less the parameter bytes (activations, gradients, workspace);
 *  - activations_mib: the peak less twice the parameter bytes (weights and their gradients, which all exist at the
 *    end of the backward pass): roughly the activation memory;
 *  - tfjs_peak_mib: the peak of tf.memory().numBytes, which counts a buffer again for every view of it;
 *  - rss_hwm_mib: the child's RSS high-water mark (getrusage maxrss) over all its steps, and its RSS before the
 *    first step (the Node/tfjs baseline). The cpu-family backends free tensor buffers only at garbage collection,
 *    so RSS also counts garbage not yet collected.
 * Prints a table and writes .bench/reformer.json.
 *   npx tsx bench/reformer.ts [--backend auto|native|wasm|cpu] [--steps 3] [--only depth|length] [--lengths 256,4096] [--old-default]
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import * as tf from '@tensorflow/tfjs-core'

import {type BackendName, initBackend} from '../src/compute/backend.js'
import {modelConfig, schemaOf} from '../src/model/index.js'
import {initWeights} from '../src/model/init.js'
import {countParams} from '../src/model/schema.js'
import {lossAndGrads} from '../src/train/step.js'

interface Case {
  section: 'depth' | 'length'
  label: string
  model: Record<string, unknown>
  batch: number
  seq: number
}

interface Result extends Case {
  backend: string
  params: number
  ms_per_step: number
  ms_all: number[]
  buffers_peak_mib: number
  tfjs_peak_mib: number
  minus_params_mib: number
  activations_mib: number
  rss_start_mib: number
  rss_hwm_mib: number
  loss: number
  loadavg_1m: number
  error?: string
}

const MiB = 2 ** 20
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}

function cases(): Case[] {
  const out: Case[] = []
  for (const L of [4, 12, 24]) {
    const base = {vocab_size: 256, n_positions: 128, n_layer: L, d_model: 128, n_head: 4, d_ffn: 512}
    out.push({section: 'depth', label: `standard L${L}`, model: base, batch: 4, seq: 128})
    out.push({section: 'depth', label: `reversible L${L}`, model: {...base, reversible: true}, batch: 4, seq: 128})
    out.push({section: 'depth', label: `rev+chunks L${L}`, model: {...base, reversible: true, ffn_chunks: 4, loss_chunks: 4}, batch: 4, seq: 128})
  }
  for (const T of arg('lengths', '256,512,1024,2048,4096').split(',').map(Number)) {
    const base = {vocab_size: 256, n_positions: T, n_layer: 2, d_model: 64, n_head: 2, d_ffn: 256}
    out.push({section: 'length', label: `full T${T}`, model: base, batch: 1, seq: T})
    // The defaults: chunk length 64 with 2T/64 buckets (the paper's m = 2l/n_buckets): the work per token stays fixed.
    const lsh = {...base, attention: 'lsh', lsh_hashes: 2}
    out.push({section: 'length', label: `lsh T${T}`, model: lsh, batch: 1, seq: T})
    if (process.argv.includes('--old-default'))
      out.push({section: 'length', label: `lsh 8 buckets T${T}`, model: {...lsh, lsh_buckets: 8}, batch: 1, seq: T})
    out.push({section: 'length', label: `lsh+rev+chunks T${T}`, model: {...lsh, reversible: true, ffn_chunks: 4, loss_chunks: 4}, batch: 1, seq: T})
  }
  return out
}

async function child(spec: Case & {backend: BackendName; steps: number}): Promise<Result> {
  const rss0 = process.memoryUsage().rss
  const info = await initBackend(spec.backend)
  const c = modelConfig(spec.model)
  const schema = schemaOf(c)
  const weights = initWeights(schema, 1)
  const N = spec.batch * spec.seq
  let s = 12345
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % c.vocab_size
  const batch = {inputs: Int32Array.from({length: N}, rand), targets: Int32Array.from({length: N}, rand), batch: spec.batch, seq: spec.seq}
  const step = () => lossAndGrads(c, schema, weights, batch, new Map())
  const rssStart = process.memoryUsage().rss
  step() // warm-up
  const times: number[] = []
  let loss = 0
  for (let i = 0; i < spec.steps; i++) {
    const t0 = performance.now()
    loss = step()
    times.push(performance.now() - t0)
  }
  const mem = watchMemory()
  step()
  mem.stop()
  const params = countParams(schema)
  const sorted = [...times].sort((a, b) => a - b)
  return {
    ...spec, backend: info.name, params, ms_per_step: sorted[Math.floor(sorted.length / 2)], ms_all: times.map((t) => Math.round(t)),
    buffers_peak_mib: mem.peakBuffers / MiB, minus_params_mib: (mem.peakBuffers - 4 * params) / MiB,
    activations_mib: (mem.peakBuffers - 8 * params) / MiB, tfjs_peak_mib: mem.peakNumBytes / MiB,
    rss_start_mib: Math.max(rss0, rssStart) / MiB, rss_hwm_mib: (process.resourceUsage().maxRSS * 1024) / MiB,
    loss, loadavg_1m: os.loadavg()[0],
  }
}

/**
 * Peaks of live tensor memory until stop(): peakBuffers counts each data buffer once (tfjs's numBytes counts every
 * tensor, so views that share a buffer, like reshapes and the clones tf.customGrad saves, are counted again; that
 * peak is peakNumBytes). Hooks the engine's tensor bookkeeping (bench-only).
 */
function watchMemory(): {peakBuffers: number; peakNumBytes: number; stop: () => void} {
  type Info = {bytes: number}
  const engine = tf.engine() as unknown as {
    state: {numBytes: number; tensorInfo: WeakMap<object, Info>}
    trackTensor: (a: {dataId: object}, backend: unknown) => void
    removeDataId: (dataId: object, backend: unknown) => void
  }
  const track = engine.trackTensor
  const remove = engine.removeDataId
  // Buffers created after the start (the step makes all of its own, weights included): dataId → bytes.
  const counted = new Map<unknown, number>()
  let live = 0
  const out = {peakBuffers: 0, peakNumBytes: engine.state.numBytes, stop: () => {
    engine.trackTensor = track
    engine.removeDataId = remove
  }}
  engine.trackTensor = function (a, backend) {
    const fresh = !engine.state.tensorInfo.has(a.dataId)
    track.call(engine, a, backend)
    const bytes = engine.state.tensorInfo.get(a.dataId)?.bytes ?? 0
    if (fresh) {
      counted.set(a.dataId, bytes)
      live += bytes
    }
    out.peakBuffers = Math.max(out.peakBuffers, live)
    out.peakNumBytes = Math.max(out.peakNumBytes, engine.state.numBytes)
  }
  engine.removeDataId = function (dataId, backend) {
    remove.call(engine, dataId, backend)
    const bytes = counted.get(dataId)
    if (bytes !== undefined && !engine.state.tensorInfo.has(dataId)) {
      live -= bytes
      counted.delete(dataId)
    }
  }
  return out
}

function runChild(k: Case, backend: string, steps: number): Result {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify({...k, backend, steps})], {
    cwd: ROOT, encoding: 'utf8', timeout: 180_000, maxBuffer: 1 << 24,
  })
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'))
  if (r.status === 0 && line) return JSON.parse(line) as Result
  const why = r.error?.message ?? (r.stderr || '').trim().split('\n').slice(-3).join(' | ')
  return {...k, backend, params: 0, ms_per_step: NaN, ms_all: [], buffers_peak_mib: NaN, tfjs_peak_mib: NaN, minus_params_mib: NaN, activations_mib: NaN, rss_start_mib: NaN,
    rss_hwm_mib: NaN, loss: NaN, loadavg_1m: os.loadavg()[0], error: `exit ${r.status ?? r.signal}: ${why}`}
}

function table(rows: Result[]): string {
  const head = ['section', 'config', 'params', 'ms/step', 'tensor peak MiB', 'peak−params MiB', 'peak−2·params MiB', 'numBytes peak MiB', 'RSS hwm MiB', 'RSS start MiB', 'load']
  const body = rows.map((r) => [r.section, r.label, `${(r.params / 1e6).toFixed(2)}M`, r.ms_per_step.toFixed(0), r.buffers_peak_mib.toFixed(1),
    r.minus_params_mib.toFixed(1), r.activations_mib.toFixed(1), r.tfjs_peak_mib.toFixed(1), r.rss_hwm_mib.toFixed(0), r.rss_start_mib.toFixed(0), r.loadavg_1m.toFixed(1)])
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n')
}

if (process.argv.includes('--child')) {
  const spec = JSON.parse(arg('child', '{}')) as Case & {backend: BackendName; steps: number}
  process.stdout.write(JSON.stringify(await child(spec)) + '\n')
} else {
  const backend = arg('backend', 'auto')
  const steps = Number(arg('steps', '3'))
  const only = arg('only', '')
  const t0 = performance.now()
  const rows: Result[] = []
  for (const k of cases().filter((c) => !only || c.section === only)) {
    const r = runChild(k, backend, steps)
    rows.push(r)
    process.stderr.write(`${r.label}: ${r.error ?? `${r.ms_per_step.toFixed(0)} ms/step, tensor peak ${r.buffers_peak_mib.toFixed(1)} MiB, RSS hwm ${r.rss_hwm_mib.toFixed(0)} MiB`}\n`)
  }
  const totalS = (performance.now() - t0) / 1000
  console.log(table(rows))
  for (const r of rows) if (r.error) console.log(`${r.label}: ${r.error}`)
  console.log(`total ${totalS.toFixed(0)} s on ${rows[0]?.backend}, ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  mkdirSync(join(ROOT, '.bench'), {recursive: true})
  const file = join(ROOT, '.bench', 'reformer.json')
  writeFileSync(file, JSON.stringify({date: new Date().toISOString(), total_s: totalS, cpus: os.cpus().length, steps, rows}, null, 2) + '\n')
  console.log(`wrote ${file}`)
}
