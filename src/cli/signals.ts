/**
 * SIGINT/SIGTERM handling for long runs: the first signal asks the run to stop at a safe point (it saves a
 * checkpoint first); a second one exits at once (the last complete checkpoint stays intact on disk).
 */
export function onStopSignals(requestStop: (signal: NodeJS.Signals) => void): () => void {
  let count = 0
  const handler = (signal: NodeJS.Signals) => {
    count++
    if (count === 1) requestStop(signal)
    else process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
