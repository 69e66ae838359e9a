/**
 * Backend choice. `auto` picks the fastest backend that loads: `native` (the C++ addon: multithreaded AVX-512
 * GEMM and fused kernels, see native/ and native-backend.ts), else `wasm` (XNNPACK, one thread), else `cpu`.
 * `tensorflow` uses @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node when the user installed one (they are
 * not dependencies of ligo).
 */
import {createRequire} from 'node:module'
import {dirname} from 'node:path'

import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import './gradients.js'

import {InputError} from '../errors.js'
import {loadNative} from './native.js'
import {registerNativeBackend} from './native-backend.js'

export type BackendName = 'auto' | 'native' | 'wasm' | 'cpu' | 'tensorflow'
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'native', 'wasm', 'cpu', 'tensorflow']

export interface BackendInfo {
  /** The tfjs backend now active. */
  name: string
  /** Notes for the user, e.g. why a faster backend was not used. Commands print them once. */
  notes: string[]
}

export async function initBackend(requested: BackendName = 'auto'): Promise<BackendInfo> {
  const notes: string[] = []
  switch (requested) {
    case 'native': {
      const why = await tryNative()
      if (why) throw new InputError(`backend 'native' is not available: ${why}; use --backend auto, wasm or cpu`)
      break
    }
    case 'wasm': {
      const why = await tryWasm()
      if (why) throw new InputError(`backend 'wasm' failed to start: ${why}; use --backend cpu`)
      break
    }
    case 'tensorflow': {
      const why = await tryTensorflow()
      if (why) throw new InputError(why)
      break
    }
    case 'cpu':
      await setOrThrow('cpu')
      break
    case 'auto': {
      const nativeWhy = await tryNative()
      if (!nativeWhy) break
      const wasmWhy = await tryWasm()
      if (!wasmWhy) {
        notes.push(`native addon not available (${nativeWhy}); using wasm (single-threaded, slower)`)
        break
      }
      notes.push(`native addon not available (${nativeWhy}); wasm failed (${wasmWhy}); using cpu (slow)`)
      await setOrThrow('cpu')
      break
    }
    default:
      throw new InputError(`unknown backend '${String(requested)}': expected one of ${BACKEND_NAMES.join(', ')}`)
  }
  quietCpuBanner()
  return {name: tf.getBackend(), notes}
}

/**
 * The tfjs cpu backend prints a banner recommending tfjs-node on its first write in Node; ligo's fast path is
 * its own native backend, so the advice is wrong here and would pollute stderr. Exported for tests.
 */
export function quietCpuBanner(): void {
  const b = tf.backend() as unknown as {firstUse?: boolean}
  if (b && typeof b.firstUse === 'boolean') b.firstUse = false
}

async function setOrThrow(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new InputError(`tfjs backend '${name}' failed to initialise`)
  await tf.ready()
}

/** '' on success, else the reason. */
async function tryNative(): Promise<string> {
  const {addon, reason} = loadNative()
  if (!addon) return reason
  try {
    registerNativeBackend(addon)
    if (!(await tf.setBackend('native'))) return 'the native tfjs backend failed to initialise'
    await tf.ready()
    return ''
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

async function tryWasm(): Promise<string> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm')
    const require = createRequire(import.meta.url)
    // The .wasm files sit beside the package's main file (dist/).
    wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/')
    if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not initialise'
    await tf.ready()
    return ''
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0] : String(e)
  }
}

async function tryTensorflow(): Promise<string> {
  const tried: string[] = []
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(/* optional peer, not a dependency */ pkg)
      if (await tf.setBackend('tensorflow')) {
        await tf.ready()
        return ''
      }
      tried.push(`${pkg} loaded but its 'tensorflow' backend did not initialise`)
    } catch (e) {
      const code = (e as {code?: string}).code
      tried.push(code === 'ERR_MODULE_NOT_FOUND' ? `${pkg} is not installed` : `${pkg}: ${(e as Error).message.split('\n')[0]}`)
    }
  }
  return `backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu (${tried.join('; ')}); ` +
    'install one with npm, or use --backend auto'
}
