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

  /** A live status line (ora on a TTY, plain lines otherwise); silent under --json. */
  protected progress(text: string): void {
    if (this.jsonEnabled()) return
    if (!this.spinner) this.spinner = ora({text, stream: process.stderr, isSilent: false}).start()
    else if (this.spinner.isEnabled) this.spinner.text = text
    else this.logToStderr(text)
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
    if (!this.spinner) return
    if (text) this.spinner.succeed(text)
    else this.spinner.stop()
    this.spinner = undefined
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    this.progressDone()
    if (err instanceof LigoError) {
      // Route through oclif so --json prints {"error": ...}, the message prints without a stack trace, and the
      // exit code is the error's (2 for bad input, 1 for runtime failures).
      const cli = new Errors.CLIError(err.message, {exit: err.exitCode, code: err.code})
      return super.catch(Object.assign(cli, {exitCode: err.exitCode}))
    }
    return super.catch(err)
  }
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
