/**
 * SIGINT/SIGTERM handling for long runs: the first signal asks the run to stop at a safe point (it saves a
 * checkpoint first); a second one exits at once (the last complete checkpoint stays intact on disk).
 *
 * Exit codes follow the shell convention 128 + the signal's number (`signalExitCode`): 130 for SIGINT, 143 for
 * SIGTERM, whether the run stopped cleanly after the first signal or quit at the second. A command that stops
 * because of a signal should end with `process.exitCode = signalExitCode(signal)`, using the signal passed to
 * `requestStop`.
 */
import * as os from 'node:os'

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const
export type StopSignal = (typeof STOP_SIGNALS)[number]

/** The exit code for a process stopped by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? (signal === 'SIGTERM' ? 15 : 2))
}

/**
 * Calls `requestStop(signal)` on the first SIGINT or SIGTERM; a second one exits at once with
 * `signalExitCode(signal)`. Returns a function that removes the handlers (call it when the run is over).
 */
export function onStopSignals(requestStop: (signal: NodeJS.Signals) => void): () => void {
  let count = 0
  const handler = (signal: NodeJS.Signals) => {
    count++
    if (count === 1) requestStop(signal)
    else process.exit(signalExitCode(signal))
  }
  for (const s of STOP_SIGNALS) process.on(s, handler)
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler)
  }
}
