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
    if (typeof v !== 'number' || !Number.isInteger(v)) throw this.err(k, v, `an integer${range(o)}`)
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
      if (!known.includes(k)) throw new ConfigError(this.key(k), this.obj[k], `no such key (known keys: ${known.join(', ')})`, this.source)
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
