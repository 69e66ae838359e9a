/**
 * Loader for the optional native addon (native/*.cc, built by scripts/build-native.mjs into
 * build/Release/ligo_native.node). `loadNative()` never throws: it returns the addon, or null and the reason
 * (read from build/native-build.json when the build failed). `LIGO_NATIVE=0` disables it.
 *
 * Every addon function takes flat Float32Array/Int32Array buffers plus sizes, writes its outputs into buffers
 * the caller allocated, and throws a TypeError/RangeError on a bad argument or a buffer too short for the
 * shape. Shape letters: B batch, T time, C channels, NH heads, HS head size, V vocab, N rows, BH = B·NH.
 */
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export interface NativeAddon {
  info(): {isa: 'avx512' | 'avx2' | 'scalar'; threads: number}
  /** C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], row-major; op(A) is [M,K], op(B) is [K,N]; stride 0 broadcasts. */
  gemm(A: Float32Array, B: Float32Array, C: Float32Array, batch: number, M: number, N: number, K: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number, strideC: number, alpha: number, beta: number): void
  /** x[N,C] → y[N,C], mean[N], rstd[N]. */
  layerNormForward(x: Float32Array, g: Float32Array, b: Float32Array, N: number, C: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array): void
  /** dy[N,C] → dx[N,C], dg[C], db[C]. */
  layerNormBackward(dy: Float32Array, x: Float32Array, g: Float32Array, mean: Float32Array, rstd: Float32Array,
    N: number, C: number, dx: Float32Array, dg: Float32Array, db: Float32Array): void
  geluForward(x: Float32Array, y: Float32Array, n: number): void
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void
  /** q,k,v,out [BH,T,HS]; P [BH,T,T] saved probabilities. */
  attentionForward(q: Float32Array, k: Float32Array, v: Float32Array, BH: number, T: number, HS: number, scale: number,
    out: Float32Array, P: Float32Array): void
  attentionBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, P: Float32Array, BH: number,
    T: number, HS: number, scale: number, dq: Float32Array, dk: Float32Array, dv: Float32Array): void
  /**
   * The same attention on q, k, v given as rows [B·T, …] ld apart (ld ≥ NH·HS), head h in columns
   * h·HS…(h+1)·HS; out [B·T, NH·HS]; P [B,NH,T,T]. q, k, v may be subarrays of one fused qkv [B·T, 3·NH·HS]
   * (ld = 3·NH·HS).
   */
  attentionRowsForward(q: Float32Array, k: Float32Array, v: Float32Array, ld: number, B: number, T: number, NH: number,
    HS: number, scale: number, out: Float32Array, P: Float32Array): void
  /** dq, dk, dv in the layout of q, k, v (only their NH·HS columns per row are written). */
  attentionRowsBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, P: Float32Array,
    ld: number, B: number, T: number, NH: number, HS: number, scale: number, dq: Float32Array, dk: Float32Array,
    dv: Float32Array): void
  /** logits[N,V], targets[N] → mean loss; lse[N] saved. */
  crossEntropyForward(logits: Float32Array, targets: Int32Array, N: number, V: number, lse: Float32Array): number
  crossEntropyBackward(logits: Float32Array, targets: Int32Array, lse: Float32Array, N: number, V: number,
    dloss: number, dlogits: Float32Array): void
  /** table[V,C], ids[N] → out[N,C]. */
  embeddingForward(table: Float32Array, ids: Int32Array, N: number, C: number, V: number, out: Float32Array): void
  embeddingBackward(dout: Float32Array, ids: Int32Array, N: number, C: number, V: number, dtable: Float32Array): void
  /** out[i] = a[i % na] op b[i % nb]; op 0 add, 1 sub, 2 mul, 3 div. */
  binary(op: 0 | 1 | 2 | 3, a: Float32Array, na: number, b: Float32Array, nb: number, out: Float32Array, n: number): void
  /** y[N,D] += b[D]. */
  biasAdd(y: Float32Array, b: Float32Array, N: number, D: number): void
  /** db[D] = Σ_rows dy[N,D]. */
  colSum(dy: Float32Array, N: number, D: number, db: Float32Array): void
  /** Softmax over the last axis of x[N,D]. */
  softmax(x: Float32Array, N: number, D: number, y: Float32Array): void
  transpose(x: Float32Array, shape: number[], perm: number[], out: Float32Array): void
  /** AdamW in place; see src/compute/optim-kernels.ts. */
  /** Σ x² in double, threaded over fixed blocks (the result does not depend on the thread count). */
  sumSquares(x: Float32Array): number
  adamwUpdate(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, step: number): void
  /**
   * CAME, one tensor of M matrices R×C in place (factored over its last two dims): the math of src/optim/came.ts.
   * vRow/resRow hold M·R floats, vCol/resCol M·C; decay = 1 − lr·wd.
   */
  cameUpdateMatrix(w: Float32Array, g: Float32Array, m: Float32Array, vRow: Float32Array, vCol: Float32Array,
    resRow: Float32Array, resCol: Float32Array, M: number, R: number, C: number, lr: number, decay: number,
    beta1: number, beta2: number, beta3: number, eps1: number, eps2: number, clip: number): void
  /** CAME, one vector (full second moment v) in place. */
  cameUpdateVector(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, decay: number,
    beta1: number, beta2: number, eps1: number, clip: number): void
  /** Adafactor, one tensor of M matrices R×C in place: the math of src/optim/adafactor.ts; m null when beta1 = 0. */
  adafactorUpdateMatrix(w: Float32Array, g: Float32Array, m: Float32Array | null, vRow: Float32Array,
    vCol: Float32Array, M: number, R: number, C: number, lr: number, decay: number, beta1: number, beta2: number,
    eps1: number, eps2: number, clip: number, scaleParameter: boolean): void
  /** Adafactor, one vector (full second moment v) in place; m null when beta1 = 0. */
  adafactorUpdateVector(w: Float32Array, g: Float32Array, m: Float32Array | null, v: Float32Array, lr: number,
    decay: number, beta1: number, beta2: number, eps1: number, eps2: number, clip: number, scaleParameter: boolean): void
  /**
   * LiGO: one grown tensor viewed as [r2, c2] from its source [r1, c1] (native/ligo_grow.cc): the depth mix
   * Σ_j c[j]·srcs[j] (c null: srcs is the one global tensor), rows X ← N ⊙ [T_r·X; M_r·X], columns
   * X ← [X·T_cᵀ, X·M_cᵀ], times f. rowM [r2−r1, r1], rowT [r1, r1] (null: identity), rowN [r2] (null: none),
   * colM [c2−c1, c1], colT [c1, c1] (null: identity). out [r2, c2] is overwritten.
   */
  ligoGrowForward(srcs: Float32Array[], c: Float32Array | null, r1: number, c1: number, r2: number, c2: number,
    rowM: Float32Array | null, rowT: Float32Array | null, rowN: Float32Array | null, colM: Float32Array | null,
    colT: Float32Array | null, f: number, out: Float32Array): void
  /** The closed-form backward of ligoGrowForward from G = dL/dout: adds into dc, dRowM, dRowT, dColM, dColT (null: not wanted). */
  ligoGrowBackward(srcs: Float32Array[], c: Float32Array | null, r1: number, c1: number, r2: number, c2: number,
    rowM: Float32Array | null, rowT: Float32Array | null, rowN: Float32Array | null, colM: Float32Array | null,
    colT: Float32Array | null, f: number, G: Float32Array, dc: Float32Array | null, dRowM: Float32Array | null,
    dRowT: Float32Array | null, dColM: Float32Array | null, dColT: Float32Array | null): void
  /** acc += scale·g, per element in double then rounded (exactly JavaScript's `acc[i] += scale * g[i]`), threaded. */
  accumulateScaled(acc: Float32Array, g: Float32Array, scale: number): void
}

export interface NativeLoad {
  addon: NativeAddon | null
  /** Why the addon is not available ('' when loaded). */
  reason: string
  /** Path of the .node file tried. */
  path: string
}

/** The repository (or installed package) root: src/compute/ and dist/compute/ are both two levels down. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADDON_PATH = join(PACKAGE_ROOT, 'build', 'Release', 'ligo_native.node')
const BUILD_RECORD = join(PACKAGE_ROOT, 'build', 'native-build.json')

/** The most recently added entry points: an addon without them predates this code. */
const LATEST_KERNELS = [
  'attentionRowsForward', 'attentionRowsBackward', 'sumSquares', 'cameUpdateMatrix', 'cameUpdateVector', 'adafactorUpdateMatrix', 'adafactorUpdateVector',
  'ligoGrowForward', 'ligoGrowBackward', 'accumulateScaled',
] as const

let cached: NativeLoad | undefined

export function loadNative(): NativeLoad {
  if (cached) return cached
  cached = tryLoad()
  return cached
}

/** The addon, or null. */
export function nativeAddon(): NativeAddon | null {
  return loadNative().addon
}

function tryLoad(): NativeLoad {
  const path = ADDON_PATH
  if (process.env.LIGO_NATIVE === '0') return {addon: null, reason: 'disabled by LIGO_NATIVE=0', path}
  if (!existsSync(path)) {
    let reason = `${path} not found (run \`node scripts/build-native.mjs\`)`
    try {
      const rec = JSON.parse(readFileSync(BUILD_RECORD, 'utf8')) as {ok?: boolean; reason?: string}
      if (rec.ok === false && rec.reason) reason = `build failed: ${rec.reason}`
    } catch {
      // no record: the build never ran
    }
    return {addon: null, reason, path}
  }
  try {
    const require = createRequire(import.meta.url)
    const addon = require(path) as NativeAddon
    if (typeof addon.gemm !== 'function' || typeof addon.info !== 'function') {
      return {addon: null, reason: `${path} is not the ligo addon (rebuild it)`, path}
    }
    // A build from before a kernel was added: fall back rather than fail at the first call.
    const missing = LATEST_KERNELS.filter((k) => typeof addon[k] !== 'function')
    if (missing.length > 0) {
      return {addon: null, reason: `${path} is out of date (no ${missing.join(', ')}; run \`npm run build:native\`)`, path}
    }
    return {addon, reason: '', path}
  } catch (e) {
    return {addon: null, reason: `${path} failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, path}
  }
}
