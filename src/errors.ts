/**
 * The project's error types. Library code throws these; commands turn them into a message and an exit code.
 *
 * Exit codes scripts can rely on: 0 success, 1 runtime failure, 2 usage or input error.
 */
export class LigoError extends Error {
  /** A short machine-readable code, e.g. 'E_CONFIG', 'E_SAFETENSORS'. */
  readonly code: string
  /** The process exit code a command should use. */
  readonly exitCode: number

  constructor(message: string, opts: {code?: string; exitCode?: number; cause?: unknown} = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause})
    this.name = new.target.name
    this.code = opts.code ?? 'E_LIGO'
    this.exitCode = opts.exitCode ?? 1
  }
}

/** Bad input from the user: a flag, a config value, a file that is not what it should be. Exit code 2. */
export class InputError extends LigoError {
  constructor(message: string, opts: {code?: string; cause?: unknown} = {}) {
    super(message, {code: opts.code ?? 'E_INPUT', exitCode: 2, cause: opts.cause})
  }
}

/** A config key with a bad value or an unknown key. Names the key, the value and what was expected. */
export class ConfigError extends InputError {
  readonly field: string

  constructor(field: string, value: unknown, expected: string, source?: string) {
    const where = source ? `${source}: ` : ''
    const key = field.length > 200 ? field.slice(0, 197) + '...' : field // a key may be any string in the file
    super(`${where}config key '${key}' ${describeValue(value)}: expected ${expected}`, {code: 'E_CONFIG'})
    this.field = field
  }
}

/** A file that cannot be parsed or fails validation (safetensors, token files, checkpoints). Exit code 2. */
export class FileFormatError extends InputError {
  readonly file: string

  constructor(file: string, message: string, opts: {code?: string; cause?: unknown} = {}) {
    super(`${file}: ${message}`, {code: opts.code ?? 'E_FORMAT', cause: opts.cause})
    this.file = file
  }
}

/** An output that exists and would be overwritten without --force, or a directory locked by another run. */
export class OutputExistsError extends InputError {
  constructor(path: string, hint = 'pass --force to overwrite it, or choose another output') {
    super(`${path} already exists: ${hint}`, {code: 'E_EXISTS'})
  }
}

/** Training diverged: NaN/Inf in the loss or a gradient. Exit code 1. */
export class DivergenceError extends LigoError {
  constructor(message: string) {
    super(message, {code: 'E_DIVERGED', exitCode: 1})
  }
}

function describeValue(value: unknown): string {
  return value === undefined ? 'is missing' : `has value ${preview(value)}`
}

/**
 * A JSON-like preview of any value for an error message, at most `max` characters (then `...`). Built without
 * recursion and stopping once `max` characters are out, so a value nested 100,000 deep or holding a million
 * entries (a hostile config or safetensors header) costs O(max), where JSON.stringify or String() would overflow
 * the stack or build megabytes.
 */
export function preview(value: unknown, max = 80): string {
  let out = ''
  type Frame = {arr: readonly unknown[]; i: number} | {obj: Record<string, unknown>; keys: string[]; i: number}
  const stack: Frame[] = []
  const open = (v: unknown): void => {
    if (Array.isArray(v)) {
      out += '['
      stack.push({arr: v, i: 0})
    } else if (typeof v === 'object' && v !== null) {
      out += '{'
      const keys: string[] = []
      for (const k in v) if (Object.hasOwn(v, k) && keys.push(k) > max) break
      stack.push({obj: v as Record<string, unknown>, keys, i: 0})
    } else if (typeof v === 'string') {
      out += JSON.stringify(v.length > max ? v.slice(0, max + 1) : v)
    } else {
      out += v === null ? 'null' : String(v) // numbers, booleans, undefined, bigints, functions, symbols
    }
  }
  open(value)
  while (stack.length > 0 && out.length <= max) {
    const top = stack[stack.length - 1]
    if ('arr' in top) {
      if (top.i < top.arr.length) {
        if (top.i > 0) out += ','
        open(top.arr[top.i++])
      } else {
        out += ']'
        stack.pop()
      }
    } else if (top.i < top.keys.length) {
      const k = top.keys[top.i++]
      out += `${top.i > 1 ? ',' : ''}${JSON.stringify(k.length > max ? k.slice(0, max + 1) : k)}:`
      open(top.obj[k])
    } else {
      out += '}'
      stack.pop()
    }
  }
  return out.length > max ? out.slice(0, max - 3) + '...' : out
}

/** At most `max` items of a list, then how many more: error messages stay short for any input. */
export function listSome(items: readonly string[], max = 20): string {
  const shown = items.slice(0, max).join(', ')
  return items.length > max ? `${shown} and ${items.length - max} more (${items.length} in all)` : shown
}
