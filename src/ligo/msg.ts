/**
 * `ligo grow --method msg`: Masked Structural Growth (Yao et al., ICLR 2024), the growth half. The grown
 * model's weights are a fresh initialisation at the target size (µP-aware, as `random`) with every source tensor
 * written into its leading corner: block l < L1 takes source block l, the rest of each tensor and the new
 * blocks L1… on top keep their fresh values (prts `MsgModel.grow`: target tensor ← init, [:d_out, :d_in] ←
 * source). The config carries the MSG state (src/model/msg.ts): new coordinates, heads, FFN units and blocks
 * are masked, so the grown model computes the source's function exactly until `ligo train` ramps the masks
 * to 1 over `growSteps` updates. Under µP the source part is compensated like every function-preserving
 * growth (spaces.ts `compensation`: the readout multiplier moves with the width).
 */
import {InputError} from '../errors.js'
import {type ModelConfig, schemaOf} from '../model/index.js'
import {initWeights} from '../model/init.js'
import type {MsgState} from '../model/msg.js'
import {type ParamSpec, numel} from '../model/schema.js'
import {initStds} from '../mup/index.js'
import type {Weights} from './materialize.js'
import {compensation, multiplierRatios} from './spaces.js'

/** The ramp's default length (updates), when `ligo grow --grow-steps` is not given. */
export const MSG_GROW_STEPS = 300

/** The grown config with its MSG state at step 0, or an InputError saying why MSG cannot grow this model. */
export function msgConfig(small: ModelConfig, large: ModelConfig, growSteps: number): ModelConfig {
  if (small.family === 'bert')
    throw new InputError('--method msg: BERT is post-LayerNorm, where a masked new block is not the identity (x + 0 is normalised again); msg grows the pre-norm families gpt2 and llama')
  if (small.family === 'gpt2' && (small.reversible || small.attention === 'lsh'))
    throw new InputError(`--method msg: the source uses ${small.reversible ? 'reversible blocks' : 'LSH attention'}; MSG's masks are applied by the standard forward only (train a model with reversible: false and attention: full)`)
  if ('msg' in small && small.msg)
    throw new InputError(`--method msg: the source is itself an MSG-grown model whose masks are still ramping (${small.msg.step}/${small.msg.grow_steps}); train it to the end of its ramp before growing it again`)
  if (!Number.isSafeInteger(growSteps) || growSteps < 1) throw new InputError(`--grow-steps ${growSteps}: expected an integer ≥ 1`)
  const kv = (c: ModelConfig) => (c.family === 'llama' ? c.n_kv_head : c.n_head)
  if (small.n_head / kv(small) !== large.n_head / kv(large))
    throw new InputError(`--method msg: the grown model has ${large.n_head} query heads over ${kv(large)} key/value heads, a group size of ${large.n_head / kv(large)} where the source's is ${small.n_head / kv(small)}; the source's query heads would read other key/value heads`)
  const msg: MsgState = {
    grow_steps: growSteps,
    step: 0,
    from: {n_layer: small.n_layer, d_model: small.d_model, n_head: small.n_head, n_kv_head: kv(small), d_ffn: small.d_ffn},
  }
  return {...large, msg} as ModelConfig
}

/**
 * The grown weights: a fresh init of `large` (seeded) with each source tensor in its leading corner (see the
 * header). `large` is the config msgConfig returned.
 */
export function msgWeights(small: ModelConfig, large: ModelConfig, source: Weights, seed: number): Weights {
  const smallSchema = schemaOf(small)
  const largeSchema = schemaOf(large)
  const out = initWeights(largeSchema, seed, initStds(large, largeSchema))
  const ratios = multiplierRatios(small, large)
  const byKey = new Map(smallSchema.map((p) => [`${p.layer}/${p.module}`, p]))
  for (const P of largeSchema) {
    const S = byKey.get(`${P.layer}/${P.module}`) // undefined for the blocks on top of the source's
    if (!S) continue
    const f = compensation(P, largeSchema, ratios, large.tie_embeddings)
    writeCorner(out.get(P.name)!, P, source.get(S.name)!, S, f)
  }
  return out
}

/** Writes f·src (shape S.shape) into the leading corner of dst (shape P.shape), row-major. */
function writeCorner(dst: Float32Array, P: ParamSpec, src: Float32Array, S: ParamSpec, f: number): void {
  const rank = P.shape.length
  if (rank !== S.shape.length) throw new Error(`msg: ${P.name} has rank ${rank}, its source ${S.name} ${S.shape.length}`)
  const inner = S.shape[rank - 1]
  const rows = numel(S.shape) / inner
  for (let r = 0; r < rows; r++) {
    // The row's index in each leading dimension of the source, then its offset in the grown tensor.
    let rest = r
    let off = 0
    let stride = 1
    for (let d = rank - 2; d >= 0; d--) {
      const i = rest % S.shape[d]
      rest = Math.floor(rest / S.shape[d])
      stride *= P.shape[d + 1]
      off += i * stride
    }
    for (let k = 0; k < inner; k++) dst[off + k] = f * src[r * inner + k]
  }
}
