/**
 * Learning-rate schedule as one pure function of the step: linear warmup from 0, then cosine or linear decay
 * to min_lr_ratio·lr at the last step (or, with decay_fraction f < 1, after a fraction f of the post-warmup
 * steps, held there to the end), or constant.
 */
export type ScheduleKind = 'cosine' | 'linear' | 'constant'
export const SCHEDULES: readonly ScheduleKind[] = ['cosine', 'linear', 'constant']

export interface ScheduleConfig {
  lr: number
  warmup: number
  steps: number
  schedule: ScheduleKind
  min_lr_ratio: number
  /** The decay ends after this fraction of the post-warmup steps and the LR stays at its minimum (default 1). */
  decay_fraction?: number
}

/** LR for the update made at 0-based `step`. */
export function lrAt(step: number, s: ScheduleConfig): number {
  if (s.warmup > 0 && step < s.warmup) return (s.lr * (step + 1)) / s.warmup
  if (s.schedule === 'constant') return s.lr
  const span = Math.max(1, (s.steps - s.warmup) * (s.decay_fraction ?? 1))
  const t = Math.min(1, Math.max(0, (step - s.warmup) / span))
  const minLr = s.lr * s.min_lr_ratio
  const shape = s.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t
  return minLr + (s.lr - minLr) * shape
}
