/**
 * Shared command plumbing: the --backend flag, --json, error → exit-code mapping, and progress output on
 * stderr that stays quiet under --json. Library code never prints; commands render through here.
 */
import * as path from 'node:path'

import {Command, Errors, Flags, Interfaces} from '@oclif/core'
import ora, {type Ora} from 'ora'

import type {IoProgress} from '../checkpoints/checkpoint.js'
import {BACKEND_NAMES, type BackendInfo, type BackendName, initBackend} from '../compute/backend.js'
import {LigoError} from '../errors.js'
import {type ProgressAt, ProgressThrottle, spinnerAllowed} from './progress.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>

export abstract class BaseCommand extends Command {
  static enableJsonFlag = true

  static baseFlags = {
    backend: Flags.option({
      options: BACKEND_NAMES as BackendName[],
      default: 'auto' as BackendName,
      description: 'compute backend: auto picks the fastest that loads (native addon > wasm > cpu)',
      helpGroup: 'GLOBAL',
    })(),
  }

  private spinner?: Ora
  private throttle?: ProgressThrottle
  /** Piped progress prints a line each time this fraction of the work is done (or 10 s pass). */
  protected progressFraction = 0.05
  /** …and at most this many seconds apart. */
  protected progressSeconds = 10

  /** Initialises the compute backend and reports its notes once on stderr. */
  protected async useBackend(name: BackendName): Promise<BackendInfo> {
    const info = await initBackend(name)
    for (const note of info.notes) this.note(note)
    return info
  }

  /** A line of progress or information on stderr; silent under --json. */
  protected note(text: string): void {
    if (!this.jsonEnabled()) this.logToStderr(text)
  }

  /**
   * A live status line, silent under --json. On a terminal: an ora spinner redrawn in place. Piped (or on a
   * zero-column terminal, or under CI): plain lines, throttled as tqdm does (the first, every 5% of `at` when
   * given, the last, else at most one per 10 s); the command's final summary is printed separately, always.
   */
  protected progress(text: string, at?: ProgressAt): void {
    if (this.jsonEnabled()) return
    if (!this.spinner && !this.throttle) {
      if (spinnerAllowed(process.stderr)) this.spinner = ora({text, stream: process.stderr, isEnabled: true}).start()
      else this.throttle = new ProgressThrottle({fraction: this.progressFraction, seconds: this.progressSeconds})
    }
    if (this.spinner) this.spinner.text = text
    else if (this.throttle!.due(performance.now(), at)) this.logToStderr(text)
  }

  /**
   * Progress for long checkpoint reads and writes (`loadCheckpoint`, growth's streamed writes): a status line with
   * the bytes done, on a terminal only (quiet when piped or under --json), for files of 64 MiB or more.
   */
  protected ioProgress(): IoProgress {
    let shown = 0
    return ({file, verb, bytes, total}) => {
      if (this.jsonEnabled() || !process.stderr.isTTY || !process.stderr.columns || total < 64 * 2 ** 20) return
      const now = performance.now()
      if (bytes < total && now - shown < 200) return
      shown = now
      this.progress(`${verb === 'read' ? 'reading' : 'writing'} ${path.basename(file)}: ${(bytes / 2 ** 20).toFixed(0)} of ${(total / 2 ** 20).toFixed(0)} MiB`)
      this.spinner?.render() // reads and writes are synchronous: the spinner's timer would not draw until they end
      if (bytes === total) this.progressDone()
    }
  }

  protected progressDone(text?: string): void {
    this.throttle = undefined
    if (!this.spinner) {
      if (text) this.note(text)
      return
    }
    if (text) this.spinner.succeed(text)
    else this.spinner.stop()
    this.spinner = undefined
  }

  /** Under --json an error is one small object (not oclif's parser state): {error: {message, code, exit}}. */
  protected override toErrorJson(err: unknown): unknown {
    const e = (err ?? {}) as {message?: string; code?: string; exitCode?: number; oclif?: {exit?: number}}
    const exit = e.oclif?.exit ?? e.exitCode ?? 1
    return {error: {message: e.message ?? String(err), code: e.code, exit, oclif: {exit}}}
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    this.progressDone()
    if (err instanceof LigoError) {
      // Route through oclif so --json prints {"error": ...}, the message prints without a stack trace, and the
      // exit code is the error's (2 for bad input, 1 for runtime failures).
      const cli = new Errors.CLIError(err.message, {exit: err.exitCode, code: err.code})
      return super.catch(Object.assign(cli, {exitCode: err.exitCode}))
    }
    const unknown = (err as {flags?: unknown}).flags
    if (err instanceof Errors.CLIError && Array.isArray(unknown) && /^Nonexistent flag/.test(err.message)) {
      // An unknown flag: name the closest real ones instead of printing the whole usage.
      const known = Object.keys({...this.ctor.flags, ...this.ctor.baseFlags, ...(this.ctor.enableJsonFlag ? {json: true} : {})})
      const hints = (unknown as string[]).map((f) => {
        const near = suggest(f.replace(/^-+/, '').replace(/=.*$/, ''), known)
        return near.length > 0 ? `${f} (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)` : f
      })
      const cli = new Errors.CLIError(`unknown flag${hints.length > 1 ? 's' : ''}: ${hints.join(', ')}; see \`npx ligo ${this.id?.replace(/:/g, ' ') ?? ''} --help\``, {exit: 2, code: 'E_USAGE'})
      return super.catch(Object.assign(cli, {exitCode: 2}))
    }
    return super.catch(err)
  }
}

/** The names within edit distance ⌈len/3⌉ of `name` (or that start with it), closest first, at most three. */
export function suggest(name: string, known: readonly string[]): string[] {
  const limit = Math.max(1, Math.ceil(name.length / 3))
  return known
    .map((k) => ({k, d: k.startsWith(name) && name.length >= 2 ? 0.5 : editDistance(name, k)}))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k))
    .slice(0, 3)
    .map((x) => x.k)
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]
}

/** Human-friendly numbers for progress lines and tables. */
export function fmt(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n)
  const a = Math.abs(n)
  if (a >= 1e12) return (n / 1e12).toFixed(2) + 'T'
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G'
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M'
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k'
  return Number(n.toPrecision(digits)).toString()
}

export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?'
  if (s < 60) return `${s.toFixed(0)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
