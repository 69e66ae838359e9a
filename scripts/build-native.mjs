#!/usr/bin/env node
// Builds the optional native addon (binding.gyp → build/Release/ligo_native.node) with node-gyp.
// Run by `npm install` / `npm ci`. It never fails the install: on any error it prints one warning line and
// exits 0 (ligo then falls back to the wasm or cpu backend). The outcome is recorded in build/native-build.json,
// which src/compute/native.ts reads to explain a missing addon.
//   LIGO_SKIP_NATIVE=1  skip the build;  LIGO_NATIVE_VERBOSE=1  show node-gyp's output.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const record = join(root, 'build', 'native-build.json')
const started = Date.now()

function finish(ok, reason, log = '') {
  try {
    mkdirSync(dirname(record), {recursive: true})
    const result = {ok, reason, node: process.version, platform: `${process.platform}-${process.arch}`,
      seconds: (Date.now() - started) / 1000, at: new Date().toISOString(), log: log.slice(-4000)}
    writeFileSync(record, JSON.stringify(result, null, 2) + '\n')
  } catch {
    // recording is best effort
  }
  if (ok) console.log(`ligo: native addon built (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  else console.warn(`ligo: warning: native addon not built (${reason}); ligo will use the wasm or cpu backend`)
  process.exit(0)
}

try {
  if (process.env.LIGO_SKIP_NATIVE === '1') finish(false, 'skipped: LIGO_SKIP_NATIVE=1')
  if (!existsSync(join(root, 'binding.gyp'))) finish(false, 'binding.gyp missing')

  // node-gyp: the copy npm runs lifecycle scripts with, else npm's bundled one, else a local install.
  const require = createRequire(import.meta.url)
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'))
  } catch {
    // not installed locally
  }
  const gyp = candidates.find((p) => p && existsSync(p))
  if (!gyp) finish(false, 'node-gyp not found')

  // Use the headers that ship with this node when present, so the build needs no network.
  const args = [gyp, 'rebuild', '--directory', root, '-j', '2']
  const prefix = resolve(dirname(process.execPath), '..')
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${prefix}`)
  }
  const verbose = process.env.LIGO_NATIVE_VERBOSE === '1'
  const res = spawnSync(process.execPath, args, {cwd: root, encoding: 'utf8', stdio: verbose ? 'inherit' : 'pipe',
    timeout: 600_000, maxBuffer: 64 << 20})
  const log = `${res.stdout ?? ''}\n${res.stderr ?? ''}`
  if (res.error) finish(false, `node-gyp did not run: ${res.error.message}`, log)
  if (res.status !== 0) {
    const lines = log.split('\n')
    const err = lines.find((l) => /\berror\b:|not found|No such file/i.test(l) && !/gyp info/.test(l)) ??
      lines.find((l) => /ERR!/.test(l)) ?? `exit code ${res.status}`
    finish(false, `node-gyp failed: ${err.trim().slice(0, 200)}`, log)
  }
  if (!existsSync(join(root, 'build', 'Release', 'ligo_native.node'))) finish(false, 'build produced no .node file', log)
  finish(true, 'built', log)
} catch (e) {
  finish(false, `unexpected error: ${e instanceof Error ? e.message : String(e)}`)
}
