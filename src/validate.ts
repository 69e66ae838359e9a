/**
 * Field readers for configs loaded from YAML/JSON. Each checks one key and throws a ConfigError that names the
 * key, the value found and what was expected. Unknown keys are errors too (`rejectUnknown`).
 */
import {ConfigError} from './errors.js'

export type Obj = Record<string, unknown>

export class Fields {
  constructor(
    readonly obj: Obj,
    /** Dotted prefix for messages, e.g. `model`. */
    readonly prefix: string,
    /** Where the config came from, e.g. a file path. */
    readonly source?: string,
  ) {}

  static of(value: unknown, prefix: string, source?: string): Fields {
    if (value === undefined || value === null) return new Fields({}, prefix, source)
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(prefix || '(root)', value, 'a mapping of keys to values', source)
    return new Fields(value as Obj, prefix, source)
  }

  key(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined && this.obj[k] !== null
  }

  int(k: string, def: number | undefined, o: {min?: number; max?: number} = {}): number {
    const v = this.obj[k] ?? def
    // Safe integers only: 1e300 passes Number.isInteger but is no exact count of anything.
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw this.err(k, v, `an integer${range(o)}`)
    if ((o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max)) throw this.err(k, v, `an integer${range(o)}`)
    return v
  }

  num(k: string, def: number | undefined, o: {min?: number; max?: number; gt?: number} = {}): number {
    const v = this.obj[k] ?? def
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.err(k, v, `a finite number${range(o)}`)
    if ((o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max) || (o.gt !== undefined && v <= o.gt))
      throw this.err(k, v, `a finite number${range(o)}`)
    return v
  }

  bool(k: string, def: boolean | undefined): boolean {
    const v = this.obj[k] ?? def
    if (typeof v !== 'boolean') throw this.err(k, v, 'true or false')
    return v
  }

  str(k: string, def: string | undefined): string {
    const v = this.obj[k] ?? def
    if (typeof v !== 'string' || v.length === 0) throw this.err(k, v, 'a non-empty string')
    return v
  }

  oneOf<T extends string>(k: string, options: readonly T[], def: T | undefined): T {
    const v = this.obj[k] ?? def
    if (typeof v !== 'string' || !options.includes(v as T)) throw this.err(k, v, `one of ${options.join(', ')}`)
    return v as T
  }

  /** Throws for any key of the object not in `known`, listing the known ones. */
  rejectUnknown(known: readonly string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (known.includes(k)) continue
      const near = known.filter((c) => editDistance(k.toLowerCase(), c.toLowerCase()) <= Math.min(2, Math.floor(c.length / 3)))
      const hint = near.length > 0 ? `did you mean ${near.map((c) => `'${c}'`).join(' or ')}? ` : ''
      throw new ConfigError(this.key(k), this.obj[k], `no such key (${hint}known keys: ${known.join(', ')})`, this.source)
    }
  }

  err(k: string, v: unknown, expected: string): ConfigError {
    return new ConfigError(this.key(k), v, expected, this.source)
  }
}

function range(o: {min?: number; max?: number; gt?: number}): string {
  const parts: string[] = []
  if (o.gt !== undefined) parts.push(`> ${o.gt}`)
  if (o.min !== undefined) parts.push(`≥ ${o.min}`)
  if (o.max !== undefined) parts.push(`≤ ${o.max}`)
  return parts.length ? ` (${parts.join(', ')})` : ''
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 4 // keys are short; only near misses matter
  let prev2: number[] = []
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j], prev2[j - 2] + 1)
    }
    prev2 = prev
    prev = cur
  }
  return prev[b.length]
}
