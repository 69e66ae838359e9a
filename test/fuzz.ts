/** What the fuzz tests (test/checkpoints/safetensors.fuzz, test/reliability/config.fuzz) share. */

/** A seeded uniform [0, 1) source. */
export type Rand = () => number
export const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
/** A uniform integer in [lo, hi]. */
export const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))

const TYPED = ['ArrayBuffer', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array'] as const

/** Runs `fn` recording the largest typed array / ArrayBuffer allocated by length, in bytes (Buffers are not seen). */
export function largestAllocation(fn: () => void): number {
  let largest = 0
  const g = globalThis as unknown as Record<string, unknown>
  const saved = TYPED.map((name) => g[name])
  TYPED.forEach((name, i) => {
    const ctor = saved[i] as {BYTES_PER_ELEMENT?: number} & (new (...args: unknown[]) => object)
    g[name] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') largest = Math.max(largest, args[0] * (ctor.BYTES_PER_ELEMENT ?? 1))
        return Reflect.construct(target, args, newTarget)
      },
    })
  })
  try {
    fn()
  } finally {
    TYPED.forEach((name, i) => (g[name] = saved[i]))
  }
  return largest
}
