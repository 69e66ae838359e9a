#!/usr/bin/env node
/**
 * Benchmark (issue #33): fixed-map growth at real size, GPT-2 small (12×768, vocab 50,257) → GPT-2 medium's shape
 * (24×1024) by net2net, stack and zero, with wall time and peak RSS from /usr/bin/time -v, each run under
 * `flock /tmp/ligo-heavy.lock` (one heavy job at a time on the shared machine). Then, outside the timed runs, checks
 * that net2net and zero keep the source's logits at this non-multiple width (max |Δlogit| on 2 × 64 tokens).
 *
 *   npm run build && node bench/grow-fixed.mjs [workdir]     (default workdir: /tmp/ligo-bench-grow)
 *
 * Prints one JSON line per run and a summary table; the source checkpoint is a seeded random init (no training:
 * growth cost does not depend on the values) made once in the workdir. Each grown checkpoint takes 1.4 GB of disk;
 * the wall time of a run excludes its wait for the lock. Measured (2 cores, 24 GiB; `uptime` load before each run):
 * net2net 13.4 s / 1574 MiB, stack 10.7 s / 1558 MiB, zero 17.3 s / 1593 MiB at load 1.3–1.9; 35–37 s and
 * 1.36–1.60 GB at load 7.3–7.8; logits kept to 3.3e-6 (max |logit| 2.9).
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const work = path.resolve(process.argv[2] ?? '/tmp/ligo-bench-grow')
const source = path.join(work, 'gpt2-small')
fs.mkdirSync(work, {recursive: true})

const dist = (p) => path.join(root, 'dist', p)
const {saveCheckpoint, loadCheckpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION} = await import(dist('checkpoints/checkpoint.js'))
const {modelConfig, schemaOf, forward} = await import(dist('model/index.js'))
const {initWeights} = await import(dist('model/init.js'))

if (!fs.existsSync(path.join(source, 'model.safetensors'))) {
  const model = modelConfig({family: 'gpt2', vocab_size: 50257, n_positions: 1024, n_layer: 12, d_model: 768, n_head: 12})
  const weights = initWeights(schemaOf(model), 1)
  saveCheckpoint(source, {meta: {format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model, tokenizer: {kind: 'byte', vocabSize: 256}, provenance: {made_by: 'bench/grow-fixed.mjs'}}, weights})
}

const rows = []
for (const method of ['net2net', 'stack', 'zero']) {
  const out = path.join(work, method)
  const args = ['/tmp/ligo-heavy.lock', '/usr/bin/time', '-v', process.execPath, path.join(root, 'bin/run.js'), 'grow', source,
    '--width', '1024', '--depth', '24', '--method', method, '-o', out, '--force', '--eval-batches', '0', '--json']
  const load = os.loadavg()[0]
  const r = spawnSync('flock', args, {encoding: 'utf8', maxBuffer: 1 << 26})
  if (r.status !== 0) throw new Error(`${method} failed (${r.status}): ${r.stderr.slice(-2000)}`)
  const time = (re) => r.stderr.match(re)?.[1]
  const wall = time(/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/).split(':').reduce((a, x) => a * 60 + Number(x), 0)
  const row = {method, wall_s: wall, peak_rss_mib: Number(time(/Maximum resident set size \(kbytes\): (\d+)/)) / 1024,
    user_s: Number(time(/User time \(seconds\): (\S+)/)), sys_s: Number(time(/System time \(seconds\): (\S+)/)),
    load_before: Number(load.toFixed(2)), grow_elapsed_s: JSON.parse(r.stdout).elapsed_s}
  rows.push(row)
  console.log(JSON.stringify(row))
}

// Function preservation at 768 → 1024 (not timed): logits of the source and of the grown model on 2 × 64 tokens.
const tf = await import('@tensorflow/tfjs-core')
const {initBackend} = await import(dist('compute/backend.js'))
await initBackend('auto')
const ids = Int32Array.from({length: 128}, (_, i) => (i * 7919 + 13) % 50257)
const logitsOf = (dir) => {
  const ck = loadCheckpoint(dir)
  const params = new Map(ck.schema.map((p) => [p.name, tf.tensor(ck.weights.get(p.name), p.shape)]))
  const out = tf.tidy(() => forward(ck.meta.model, params, ids, 2, 64))
  const a = out.dataSync()
  out.dispose()
  for (const t of params.values()) t.dispose()
  return a
}
const src = logitsOf(source)
for (const method of ['net2net', 'zero']) {
  const g = logitsOf(path.join(work, method))
  let diff = 0
  let scale = 0
  for (let i = 0; i < src.length; i++) {
    diff = Math.max(diff, Math.abs(g[i] - src[i]))
    scale = Math.max(scale, Math.abs(src[i]))
  }
  console.log(JSON.stringify({method, max_abs_logit_diff: diff, max_abs_source_logit: scale, relative: diff / scale}))
}
console.log('\n| method | wall (s) | peak RSS (MiB) | user+sys (s) | load before |\n|---|---|---|---|---|')
for (const r of rows) console.log(`| ${r.method} | ${r.wall_s.toFixed(1)} | ${r.peak_rss_mib.toFixed(0)} | ${(r.user_s + r.sys_s).toFixed(1)} | ${r.load_before} |`)
