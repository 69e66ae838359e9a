/**
 * The recipe the README's headline measured (docs/growth-study.md, the pre-registered 2×128 → 4×256 study:
 * experiments/growth/tuning/study-w256.sh and budget-walk.sh), as the tool's defaults.
 *
 * Operator: `ligo grow --method ligo` with no LiGO flags learns for 25 steps, warmup 3, batch 8 × 128, lr 1e-3
 * (linear decay), from `--width-init auto` (function-preserving copies with LEMON-style unequal splits when the width
 * is a multiple; not the official random init) and a noisy stacking depth init (0.03). Those values live in
 * LIGO_DEFAULTS (grow.ts); test/ligo/recipe.test.ts checks them against the study's scripts.
 *
 * After growth: every grown model of the study (and scratch at the target size) trained with scratch's tuned schedule
 * at 4 × 256 — the source's global η (8e-3; µP rescales the per-tensor rates for the new widths), batch, optimizer
 * and cosine decay, with a warmup of 300 steps where the source had 100. So a grown checkpoint carries its source's
 * training settings with the warmup raised to at least POST_GROWTH_WARMUP, and `ligo train GROWN` without --config
 * trains that way (--warmup, --lr or --config override it).
 */
import type {TrainConfig} from '../train/config.js'

/** The post-growth warmup the headline measured (steps). */
export const POST_GROWTH_WARMUP = 300

/**
 * The post-growth schedules `ligo grow --post-growth-schedule` offers (issue #30). `rewarm` is the headline's
 * and the default. `lemon` is LEMON's "same peak, faster decay" (Wang et al., ICLR 2024: an expanded model keeps
 * the from-scratch maximum learning rate and decays it sooner): the same warmup and peak as `rewarm`, the decay
 * finished after LEMON_DECAY_FRACTION of the post-warmup steps, then held at the minimum (train.decay_fraction).
 * LEMON's own factor is task-specific; 0.5 was fixed before any run here, not tuned.
 */
export const POST_GROWTH_SCHEDULES = ['rewarm', 'lemon'] as const
export type PostGrowthSchedule = (typeof POST_GROWTH_SCHEDULES)[number]
export const LEMON_DECAY_FRACTION = 0.5

/**
 * The training settings a grown checkpoint carries: its source's, with the warmup at least POST_GROWTH_WARMUP
 * (and, for `lemon`, the decay over LEMON_DECAY_FRACTION of the steps).
 */
export function postGrowthTrain(source: TrainConfig | undefined, schedule: PostGrowthSchedule = 'rewarm'): TrainConfig | undefined {
  if (!source) return undefined
  const out: TrainConfig = {...source, warmup: Math.max(source.warmup, POST_GROWTH_WARMUP)}
  if (schedule === 'lemon') out.decay_fraction = LEMON_DECAY_FRACTION
  return out
}
