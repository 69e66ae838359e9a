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
    super(`${where}config key '${field}' ${describeValue(value)}: expected ${expected}`, {code: 'E_CONFIG'})
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
  if (value === undefined) return 'is missing'
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  if (text.length > 80) text = text.slice(0, 77) + '...'
  return `has value ${text}`
}
