/**
 * `ligo plan`: G_stack's growth-timing guideline (Du et al., "Stacking Your Transformers", NeurIPS 2024,
 * arXiv 2405.15319, §4.2 equation (2) with its fitted a, b, c; the official code's README states the same,
 * github:tongxuluo/prts):
 *
 *   log10(d) = 0.88·log10(N) + 163.27/log10(C) − 5.74,   growth factor g = 4
 *
 * d: tokens to train the small model before stacking it g times in depth; N: the target's parameters; C: the
 * target's training budget in FLOPs. C = 6·N·D for a budget of D tokens, the convention under which the
 * equation gives the README's worked values (Llama2-7B on 2T tokens: d = 11.11B; Llama3-8B on 15T: 6.58B;
 * test/ligo/plan.test.ts). From d the plan derives:
 * - the source: N/g parameters (g× fewer blocks; the embeddings do not shrink with depth, so a real source is
 *   somewhat larger), trained for d tokens at 6·(N/g)·d FLOPs;
 * - the operator step: stacking copies the source's blocks (no FLOPs, N·4 bytes written in fp32); this tool's
 *   learned LiGO operator, for comparison, costs about one target training step per operator step
 *   (6·N FLOPs/token, the materialisation not counted) over LIGO_DEFAULTS' steps × batch × seq tokens;
 * - the saving the guideline itself implies, a floor: the first d tokens cost 1/g as much, (1 − 1/g)·d/D of the
 *   budget, assuming no faster progress per token after growth. G_stack measured much more than this floor at its
 *   7B point (the same loss as a 300B-token run after 194B tokens: 35.3% fewer tokens, its "54.6% speed-up"); the
 *   paper gives that as a measurement, not as a function of N and C, so the plan prints it as such.
 *
 * The fit's ranges (the paper's §4.2, Figures 8-9, read from its full text): the equation was fitted to the loss-minimising d
 * of IsoFLOP curves for three Llama-like targets, N = 410M, 1.1B and 3B parameters (TinyLlama code, SlimPajama,
 * context 2048), each grown with g = 4 from sources trained for d = 0, 1, 5, 10, 20 or 50B tokens, at budgets of
 * 0.8-2.2e20 FLOPs (410M), 2-7e20 (1.1B) and 4-12e20 (3B). The paper defines C as the whole budget, source plus
 * target; the prts README's worked values (Llama 7B/8B on 2T/15T tokens) take C = 6·N·D, as this plan does. Every
 * input outside N ∈ [410M, 3B], C ∈ [0.8e20, 1.2e21] or d ≤ 50B is an extrapolation, and the plan says so: the
 * paper's own 7B / 300B-token run (C ≈ 1.26e22) and the README's Llama examples are all outside the fit.
 */
import {InputError} from '../errors.js'
import {LIGO_DEFAULTS} from './grow.js'

export const GSTACK = {a: 0.88, b: 163.27, c: -5.74, g: 4} as const

export const GSTACK_SOURCE = 'Du et al., "Stacking Your Transformers: A Closer Look at Model Growth for Efficient LLM Pre-Training", NeurIPS 2024 (arXiv 2405.15319); the equation and its fit in §4.2, worked values in the official code\'s README (github:tongxuluo/prts)'
/** What the equation was fitted on (the paper's §4.2, Figures 8-9); outside it the plan warns of extrapolation. */
export const GSTACK_FIT = {
  params: [410e6, 3e9],
  flops: [0.8e20, 12e20],
  d_tokens: [0, 50e9],
  description:
    'fitted (paper §4.2, Figs. 8-9) on IsoFLOP runs of three Llama-like targets, N = 410M, 1.1B and 3B parameters, grown with g = 4 from sources trained d = 0, 1, 5, 10, 20 or 50B tokens, at C = 0.8-2.2e20 FLOPs (410M), 2-7e20 (1.1B) and 4-12e20 (3B)',
} as const
export const GSTACK_MEASURED = {params: 7e9, tokens: 300e9, tokens_to_match: 194e9, note: 'G_stack, 7B target: a scratch run\'s loss at 300B tokens reached after 194B tokens (the paper\'s "54.6% speed-up" = 300/194 − 1)'}

export interface PlanInput {
  /** Target parameters N. */
  params: number
  /** The training budget: tokens D (C = 6·N·D) or FLOPs C. */
  tokens?: number
  flops?: number
}

export interface Plan {
  params: number
  tokens: number
  flops: number
  equation: string
  log10_d: number
  /** Tokens to train the source before growth. */
  d_tokens: number
  growth_factor: number
  source_params: number
  /** d / D. */
  source_token_fraction: number
  source_flops: number
  operator: {stack_flops: number; stack_bytes: number; ligo_steps: number; ligo_tokens: number; ligo_flops: number}
  saving_floor: {fraction: number; flops: number; assumption: string}
  measured: typeof GSTACK_MEASURED & {token_saving: number}
  fit: {source: string; ranges: string; params: readonly number[]; flops: readonly number[]; d_tokens: readonly number[]; extrapolated: string[]}
  warnings: string[]
}

/** G_stack's d (tokens) for N parameters and C FLOPs. */
export function gstackTokens(N: number, C: number): number {
  return 10 ** (GSTACK.a * Math.log10(N) + GSTACK.b / Math.log10(C) + GSTACK.c)
}

export function plan(i: PlanInput): Plan {
  const N = i.params
  if (!(N > 0) || !Number.isFinite(N)) throw new InputError(`--params ${N}: expected a positive parameter count`)
  if ((i.tokens === undefined) === (i.flops === undefined)) throw new InputError('give the training budget as --tokens or --flops (one of them)')
  const C = i.flops ?? 6 * N * i.tokens!
  const D = i.tokens ?? C / (6 * N)
  if (!(C > 1) || !Number.isFinite(C)) throw new InputError(`the budget must be a finite number of FLOPs > 1 (got ${C})`)
  const g = GSTACK.g
  const log10d = GSTACK.a * Math.log10(N) + GSTACK.b / Math.log10(C) + GSTACK.c
  const d = 10 ** log10d
  const warnings: string[] = []
  if (d >= D) warnings.push(`the guideline's growth timing (${d.toExponential(3)} tokens) is not below the whole budget (${D.toExponential(3)} tokens): growth would never happen; this (N, C) is outside where the guideline is meaningful`)
  const extrapolated: string[] = []
  const [nLo, nHi] = GSTACK_FIT.params
  const [cLo, cHi] = GSTACK_FIT.flops
  if (N < nLo || N > nHi) extrapolated.push(`N = ${N.toExponential(3)} is outside the fitted targets (${nLo.toExponential(2)}-${nHi.toExponential(2)} parameters)`)
  if (C < cLo || C > cHi) extrapolated.push(`C = ${C.toExponential(3)} FLOPs is outside the fitted budgets (${cLo.toExponential(2)}-${cHi.toExponential(2)})`)
  if (d > GSTACK_FIT.d_tokens[1]) extrapolated.push(`d = ${d.toExponential(3)} tokens is beyond the longest growth timing tried (${GSTACK_FIT.d_tokens[1].toExponential(2)})`)
  if (extrapolated.length > 0) warnings.push(`extrapolation: ${extrapolated.join('; ')} (see the fit's ranges)`)
  const ligoTokens = LIGO_DEFAULTS.steps * LIGO_DEFAULTS.batch * LIGO_DEFAULTS.seq
  const floor = Math.max(0, Math.min(d, D) * (1 - 1 / g)) / D
  return {
    params: N,
    tokens: D,
    flops: C,
    equation: 'log10(d) = 0.88·log10(N) + 163.27/log10(C) − 5.74',
    log10_d: log10d,
    d_tokens: d,
    growth_factor: g,
    source_params: N / g,
    source_token_fraction: d / D,
    source_flops: 6 * (N / g) * d,
    operator: {stack_flops: 0, stack_bytes: 4 * N, ligo_steps: LIGO_DEFAULTS.steps, ligo_tokens: ligoTokens, ligo_flops: 6 * N * ligoTokens},
    saving_floor: {fraction: floor, flops: floor * C, assumption: `the first d tokens are trained by the source at 1/${g} of the cost, and the grown model progresses no faster per token than scratch afterwards`},
    measured: {...GSTACK_MEASURED, token_saving: 1 - GSTACK_MEASURED.tokens_to_match / GSTACK_MEASURED.tokens},
    fit: {source: GSTACK_SOURCE, ranges: GSTACK_FIT.description, params: GSTACK_FIT.params, flops: GSTACK_FIT.flops, d_tokens: GSTACK_FIT.d_tokens, extrapolated},
    warnings,
  }
}

/** A count flag: 7e9, 7B, 300B, 2T, 1.5M, 1e22 (K/M/B/T = 1e3/1e6/1e9/1e12). */
export function parseCount(flag: string, s: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kKmMbBgGtT]?)\s*$/.exec(s)
  const scale: Record<string, number> = {'': 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12}
  const v = m ? Number(m[1]) * scale[m[2].toLowerCase()] : Number.NaN
  if (!Number.isFinite(v) || v <= 0) throw new InputError(`${flag} ${s}: expected a positive number, e.g. 7e9 or 7B (K, M, B or G, T = 1e3, 1e6, 1e9, 1e12)`)
  return v
}
