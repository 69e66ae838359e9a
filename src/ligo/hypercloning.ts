/**
 * `ligo grow --method hypercloning`: HyperCloning (Samragh et al., Apple 2024, "Scaling Smart"; the Apple code's
 * `clone_matrix`/`clone_vector`, read in the sorobedio/ml-hypercloning fork): function-preserving width growth
 * by tiling. Every width space grows by an integer factor n (n = new/old, per space); new coordinate r copies
 * old coordinate r mod d (whole heads, since head size is kept); vectors (biases, norm gains) are cloned; a
 * matrix (in, out) is tiled n_in × n_out times and divided by n_in (the number of copies of its input), so
 * its output is a clone of the source's: W.repeat(n_out, n_in)/n_in in PyTorch's (out, in) layout. The hidden
 * states are n clones of the source's and LayerNorm/RMSNorm of a clone is the clone of the norm, so the logits
 * are the source's.
 *
 * As a LiGO operator this is a selection M (tiling) with in-dimension scaling N = 1/n (operator.ts), so it goes
 * through the same materialisation as every fixed method. It equals the `fp` width init with equal splits except
 * in the FFN space, where `fp` draws the source unit of each new unit at random (Net2Net) and HyperCloning tiles
 * (with random draws a unit copied k times gets 1/k; tiling copies every unit n times).
 *
 * Variants (the paper's; weights of the hidden matrices whose input grew, after the symmetric clone):
 * - symmetric: every block W/n_in (the reference code's default; ligo's is noisy-symmetric, CLONE_DEFAULT).
 * - diagonal: the output block b reads only input block b mod n_in, with weight W (the other blocks are 0).
 * - noisy-symmetric, noisy-diagonal: the same plus noise in pairs of input blocks, +E in block 2k and −E in
 *   block 2k+1 of the same output block (an odd last block is left as is), so it cancels on cloned inputs: the
 *   function is kept (to rounding) while the copies differ. E is Gaussian, rescaled to `snrDb` below the
 *   symmetric block's mean square (the code's `add_noise`/`get_noise_with_snr`; the paper's noisy runs use
 *   about 10 dB). Zero blocks (identity blocks' output projections) get no noise.
 * Embeddings and the readout keep the symmetric clone (the code adds no noise there; a tied readout is the
 * embedding). HyperCloning grows width only; with --depth, the new blocks are identity blocks (copies of their
 * neighbour with zero output projections, the operator's `fp` depth, as net2net), so the function is still kept.
 */
import {Rng} from '../data/rng.js'
import {InputError} from '../errors.js'
import type {ModelConfig} from '../model/index.js'
import {type ParamSpec, type Schema, numel} from '../model/schema.js'
import {type LigoOperator, initOperator} from './operator.js'
import {spaceKey, spaceSize} from './spaces.js'

export const CLONE_VARIANTS = ['symmetric', 'diagonal', 'noisy-symmetric', 'noisy-diagonal'] as const
export type CloneVariant = (typeof CLONE_VARIANTS)[number]

/**
 * ligo's default variant. Not the reference code's (symmetric): without dropout the symmetric and diagonal clones
 * get identical updates and stay copies for good (measured: docs/growth-study.md, issue #30), so the default is the
 * noisy variant that breaks the symmetry.
 */
export const CLONE_DEFAULT: CloneVariant = 'noisy-symmetric'

/** The signal-to-noise ratio of the noisy variants (dB): the paper's ≈ 10 dB. */
export const CLONE_SNR_DB = 10

export interface CloneOptions {
  variant: CloneVariant
  /** Noisy variants: the noise's power this many dB below the symmetric block's. */
  snrDb: number
  seed: number
}

/** The HyperCloning operator (symmetric tiling) from small to large, or an InputError naming a space that is not a multiple. */
export function hyperCloneOperator(small: ModelConfig, large: ModelConfig, largeSchema: Schema, seed: number): LigoOperator {
  const names: Record<string, string> = {resid: 'width (d_model)', q: 'query heads', k: 'key heads', v: 'value heads', ffn: 'FFN width'}
  for (const s of ['resid', 'q', 'k', 'v', 'ffn'] as const) {
    const d1 = spaceSize(small, s)
    const d2 = spaceSize(large, s)
    if (d2 % d1 !== 0)
      throw new InputError(`--method hypercloning: the ${names[s]} grows ${d1} → ${d2}, not by an integer factor; HyperCloning tiles every width space (e.g. ${2 * d1}), use --method net2net or ligo for other widths`)
  }
  const op = initOperator(small, large, largeSchema, {width: 'fp', depth: 'fp', depthNoise: 0, fullWidth: false, seed})
  for (const w of op.width.values()) {
    const n = w.d2 / w.d1
    w.M.fill(0)
    for (let r = 0; r < w.d2 - w.d1; r++) w.M[r * w.d1 + ((w.d1 + r) % w.d1)] = 1
    w.N.fill(n === 1 ? 1 : 1 / n)
  }
  return op
}

/**
 * Applies a variant to one grown tensor in place (`data`: the symmetric clone of P, P in the large schema;
 * `index`: P's position in the schema, which seeds its noise). Symmetric without noise leaves it unchanged.
 */
export function applyCloneVariant(P: ParamSpec, index: number, data: Float32Array, op: LigoOperator, o: CloneOptions): void {
  if (o.variant === 'symmetric' || P.role !== 'hidden' || P.shape.length !== 2) return
  const win = op.width.get(spaceKey(P, P.spaces[0]))
  if (!win || win.d2 === win.d1) return // the input did not grow: nothing is split
  const wout = op.width.get(spaceKey(P, P.spaces[1]))
  const [rows, cols] = P.shape
  const d1In = win.d1
  const nIn = rows / d1In
  const d1Out = wout && wout.d2 !== wout.d1 ? wout.d1 : cols
  const nOut = cols / d1Out
  const diagonal = o.variant === 'diagonal' || o.variant === 'noisy-diagonal'
  // The symmetric block's mean square (every block holds W/n_in), for the noise level.
  let power = 0
  for (let i = 0; i < d1In; i++) for (let j = 0; j < d1Out; j++) power += data[i * cols + j] ** 2
  power /= d1In * d1Out
  if (diagonal) {
    for (let i = 0; i < rows; i++) {
      const a = Math.floor(i / d1In)
      for (let j = 0; j < cols; j++) data[i * cols + j] = Math.floor(j / d1Out) % nIn === a ? data[i * cols + j] * nIn : 0
    }
  }
  if (o.variant === 'noisy-symmetric' || o.variant === 'noisy-diagonal') {
    if (power === 0) return
    const rng = Rng.derive(o.seed, index)
    const target = power / 10 ** (o.snrDb / 10)
    const e = new Float64Array(d1In * d1Out)
    for (let b = 0; b < nOut; b++) {
      for (let k = 0; k + 1 < nIn; k += 2) {
        let ms = 0
        for (let t = 0; t < e.length; t++) ms += (e[t] = rng.normal()) ** 2
        const scale = Math.sqrt(target / (ms / e.length))
        for (let i = 0; i < d1In; i++) {
          for (let j = 0; j < d1Out; j++) {
            const v = e[i * d1Out + j] * scale
            const col = b * d1Out + j
            data[(k * d1In + i) * cols + col] += v
            data[((k + 1) * d1In + i) * cols + col] -= v
          }
        }
      }
    }
  }
  if (numel(P.shape) !== data.length) throw new Error(`hypercloning: ${P.name} has ${data.length} values, expected [${P.shape}]`)
}
