/**
 * Seeded randomness: a small sequential generator (`Rng`, xoshiro128**) and a stateless counter hash
 * (`hash64`, `counterInt`, `counterUnit`, built on the SplitMix64 finaliser).
 *
 * Use `Rng` where draws are consumed in order (weight init, dropout masks). Use the counter functions
 * where a draw must be a pure function of some integers, e.g. the batch sampler's window for
 * (seed, step, micro, row): a resumed run then sees the same data with no saved sampler state.
 *
 * References: Blackman & Vigna, "Scrambled linear pseudorandom number generators" (xoshiro128**);
 * Steele, Lea & Flood, "Fast splittable pseudorandom number generators" (SplitMix64).
 */
import {InputError} from '../errors.js'

const MASK64 = (1n << 64n) - 1n
const GOLDEN64 = 0x9e3779b97f4a7c15n
const TWO32 = 4294967296
const TWO53 = 9007199254740992

/** The SplitMix64 finaliser: a bijection on 64-bit integers with good avalanche. */
export function mix64(z: bigint): bigint {
  z &= MASK64
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
  return z ^ (z >> 31n)
}

/**
 * A 64-bit hash of a sequence of integers (each a safe integer; negatives are taken modulo 2^64).
 * `hash64(seed, step, micro, row)` is the counter-based draw the batch sampler uses.
 */
export function hash64(...words: number[]): bigint {
  let h = 0x243f6a8885a308d3n
  for (let k = 0; k < words.length; k++) {
    const w = words[k]
    if (!Number.isSafeInteger(w)) throw new InputError(`hash64: word ${k} is ${w}: expected a safe integer`)
    h = mix64(h ^ mix64(BigInt.asUintN(64, BigInt(w)) + GOLDEN64 * BigInt(k + 1)))
  }
  return h
}

/** A uniform integer in [0, n) from the hash of `words`; n is a safe integer ≥ 1. Multiply-shift: bias < n/2^64. */
export function counterInt(n: number, ...words: number[]): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`counterInt: n is ${n}: expected an integer ≥ 1`)
  return Number((hash64(...words) * BigInt(n)) >> 64n)
}

/** A uniform double in [0, 1) (53 bits) from the hash of `words`. */
export function counterUnit(...words: number[]): number {
  return Number(hash64(...words) >> 11n) / TWO53
}

/**
 * A seeded sequential generator (xoshiro128**, period 2^128 − 1) with serialisable state.
 * The same seed gives the same draws on every platform.
 */
export class Rng {
  private s0 = 0
  private s1 = 0
  private s2 = 0
  private s3 = 0
  /** The second value of the last Box–Muller pair, or null. Part of the state. */
  private spare: number | null = null

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new InputError(`Rng seed is ${seed}: expected a safe integer`)
    this.seedFrom(mix64(BigInt.asUintN(64, BigInt(seed)) + GOLDEN64), mix64(BigInt.asUintN(64, BigInt(seed)) + 2n * GOLDEN64))
  }

  /** A generator whose stream is a pure function of (seed, ...counters), e.g. `Rng.derive(seed, layer, tensor)`. */
  static derive(seed: number, ...counters: number[]): Rng {
    const r = new Rng(0)
    const h = hash64(seed, ...counters)
    r.seedFrom(mix64(h + GOLDEN64), mix64(h + 2n * GOLDEN64))
    return r
  }

  /** Restores a generator from `state()`. */
  static fromState(s: string): Rng {
    const m = /^xoshiro128ss:([0-9a-f]{8})([0-9a-f]{8})([0-9a-f]{8})([0-9a-f]{8})(?::(\S+))?$/.exec(s)
    const bad = () => new InputError(`invalid Rng state '${s.length > 60 ? s.slice(0, 57) + '...' : s}': expected 'xoshiro128ss:<32 hex digits>[:<spare normal>]'`)
    if (!m) throw bad()
    const r = new Rng(0)
    r.s0 = parseInt(m[1], 16) | 0
    r.s1 = parseInt(m[2], 16) | 0
    r.s2 = parseInt(m[3], 16) | 0
    r.s3 = parseInt(m[4], 16) | 0
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) throw bad()
    if (m[5] !== undefined) {
      const spare = Number(m[5])
      if (!Number.isFinite(spare)) throw bad()
      r.spare = spare
    } else {
      r.spare = null
    }
    return r
  }

  /** The full state as a short string; `Rng.fromState(r.state())` continues the same stream. */
  state(): string {
    const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0')
    const base = `xoshiro128ss:${hex(this.s0)}${hex(this.s1)}${hex(this.s2)}${hex(this.s3)}`
    // Number → string round-trips exactly in JS, so the spare normal survives serialisation.
    return this.spare === null ? base : `${base}:${this.spare}`
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9)
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result >>> 0
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.uint32() >>> 5 // 27 bits
    const lo = this.uint32() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / TWO53
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare
      this.spare = null
      return z
    }
    const u1 = 1 - this.next() // (0, 1], so log is finite
    const u2 = this.next()
    const r = Math.sqrt(-2 * Math.log(u1))
    const theta = 2 * Math.PI * u2
    this.spare = r * Math.sin(theta)
    return r * Math.cos(theta)
  }

  /**
   * Advances the stream exactly as `k` calls of `normal()` would, without computing the values (a Box–Muller
   * pair is 4 uint32 draws; only an odd last call is computed, for its spare). For skipping the tensors of a
   * sequential init that are not wanted.
   */
  skipNormals(k: number): void {
    if (!Number.isSafeInteger(k) || k < 0) throw new InputError(`Rng.skipNormals: k is ${k}: expected an integer ≥ 0`)
    if (k > 0 && this.spare !== null) {
      this.spare = null
      k--
    }
    for (let pairs = Math.floor(k / 2); pairs > 0; pairs--) {
      this.uint32()
      this.uint32()
      this.uint32()
      this.uint32()
    }
    if (k % 2 === 1) this.normal()
  }

  /** A uniform integer in [0, n), unbiased (rejection sampling). n is an integer in [1, 2^53]. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) && n !== TWO53) throw new InputError(`Rng.int: n is ${n}: expected an integer in [1, 2^53]`)
    if (n < 1) throw new InputError(`Rng.int: n is ${n}: expected an integer in [1, 2^53]`)
    if (n <= TWO32) {
      const limit = TWO32 - (TWO32 % n)
      for (;;) {
        const r = this.uint32()
        if (r < limit) return r % n
      }
    }
    const limit = TWO53 - (TWO53 % n)
    for (;;) {
      const r = (this.uint32() >>> 11) * TWO32 + this.uint32() // 21 + 32 = 53 bits
      if (r < limit) return r % n
    }
  }

  private seedFrom(a: bigint, b: bigint): void {
    this.s0 = Number(a & 0xffffffffn) | 0
    this.s1 = Number(a >> 32n) | 0
    this.s2 = Number(b & 0xffffffffn) | 0
    this.s3 = Number(b >> 32n) | 0
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1 // the all-zero state is a fixed point
    this.spare = null
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
