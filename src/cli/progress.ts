/**
 * When a progress line is worth printing. On a terminal the status line is redrawn in place (ora); piped into a
 * file or `cat`, one line per step floods the log (the demo printed 544 lines), so, as tqdm does, a line is
 * printed for the first update, whenever the fraction done crosses the next `fraction` mark (every 5%) and at least
 * `minSeconds` have passed since the last line (tqdm's mininterval: a fast loop does not print every mark), at the
 * last update, and otherwise every `seconds`.
 */
export interface ProgressAt {
  done: number
  total: number
}

export class ProgressThrottle {
  private lastMs = Number.NEGATIVE_INFINITY
  /** The next mark, in units of `fraction`. */
  private nextMark = 0

  private readonly o: {fraction: number; seconds: number; minSeconds: number}

  constructor(o: {fraction?: number; seconds?: number; minSeconds?: number} = {}) {
    this.o = {fraction: o.fraction ?? 0.05, seconds: o.seconds ?? 10, minSeconds: o.minSeconds ?? 1}
  }

  /** True if an update at `nowMs` (and, when known, `at` done of total) should be printed; records it if so. */
  due(nowMs: number, at?: ProgressAt): boolean {
    const f = at && at.total > 0 ? at.done / at.total : undefined
    const since = nowMs - this.lastMs
    const print =
      this.lastMs === Number.NEGATIVE_INFINITY ||
      (f !== undefined && f >= 1) ||
      (f !== undefined && f / this.o.fraction >= this.nextMark - 1e-9 && since >= this.o.minSeconds * 1000) ||
      since >= this.o.seconds * 1000
    if (!print) return false
    this.lastMs = nowMs
    if (f !== undefined) this.nextMark = Math.floor(f / this.o.fraction + 1e-9) + 1
    return true
  }
}

/**
 * Whether a live spinner may draw on `stream`: a terminal with a known, positive width, outside CI. On a
 * zero-column terminal ora's line arithmetic divides by the width and redraws forever (hundreds of MB of escape
 * codes, training stalled), so such a stream gets plain, throttled lines instead.
 */
export function spinnerAllowed(stream: {isTTY?: boolean; columns?: number}, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!stream.isTTY) return false
  if (!(typeof stream.columns === 'number' && stream.columns > 0)) return false
  if (env.CI && env.CI !== '0' && env.CI !== 'false') return false
  if (env.TERM === 'dumb') return false
  return true
}

/** Estimated time left: elapsed / done · (total − done), or undefined before the first unit is done. */
export function etaSeconds(elapsedS: number, at: ProgressAt): number | undefined {
  if (at.done <= 0 || at.total <= 0) return undefined
  return (elapsedS / at.done) * Math.max(0, at.total - at.done)
}
