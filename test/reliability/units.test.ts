/** Small unit checks behind the reliability guards: signal exit codes and stop handling, strict config fields. */
import {afterEach, describe, expect, it, vi} from 'vitest'

import {onStopSignals, signalExitCode} from '../../src/cli/signals.js'
import {ConfigError} from '../../src/errors.js'
import {resolveRunConfig} from '../../src/train/config.js'
import {Fields} from '../../src/validate.js'

afterEach(() => vi.restoreAllMocks())

describe('signals', () => {
  it('exit codes are 128 + the signal number', () => {
    expect(signalExitCode('SIGINT')).toBe(130)
    expect(signalExitCode('SIGTERM')).toBe(143)
  })

  it('the first signal requests a stop (with its name), the second exits at once with its code; restore removes the handlers', () => {
    const stops: string[] = []
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never)
    const counts = {SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM')}
    const before = new Set(process.listeners('SIGTERM'))
    const restore = onStopSignals((s) => stops.push(s))
    // Called directly: emitting a signal event on the process would reach vitest's own listeners too.
    const handler = process.listeners('SIGTERM').find((l) => !before.has(l)) as (s: NodeJS.Signals) => void
    expect(process.listenerCount('SIGINT')).toBe(counts.SIGINT + 1)
    handler('SIGTERM')
    expect(stops).toEqual(['SIGTERM'])
    expect(exit).not.toHaveBeenCalled()
    handler('SIGINT')
    expect(exit).toHaveBeenCalledWith(130)
    expect(stops).toEqual(['SIGTERM'])
    restore()
    expect(process.listenerCount('SIGINT')).toBe(counts.SIGINT)
    expect(process.listenerCount('SIGTERM')).toBe(counts.SIGTERM)
  })
})

describe('strict config fields', () => {
  it('integers must be safe integers', () => {
    const f = Fields.of({steps: 1e300, seed: 2 ** 53, ok: 2 ** 53 - 1}, 'train', 'run.yaml')
    expect(() => f.int('steps', 1, {min: 1})).toThrow(ConfigError)
    expect(() => f.int('steps', 1, {min: 1})).toThrow("run.yaml: config key 'train.steps' has value 1e+300: expected an integer (≥ 1)")
    expect(() => f.int('seed', 0)).toThrow(/train\.seed/)
    expect(f.int('ok', 0)).toBe(2 ** 53 - 1)
    expect(() => resolveRunConfig({train: {steps: 1e300}})).toThrow(/'train\.steps' has value 1e\+300/)
  })

  it('unknown keys suggest the nearest known key and still list them all', () => {
    expect(() => resolveRunConfig({model: {n_layerz: 2}})).toThrow(/'model\.n_layerz' has value 2: expected no such key \(did you mean 'n_layer'\? known keys: .*d_model/)
    expect(() => resolveRunConfig({train: {stpes: 2}})).toThrow(/did you mean 'steps'\?/)
    // No far-fetched hints for short or unrelated keys.
    expect(() => resolveRunConfig({train: {zz: 2}})).toThrow(/'train\.zz' has value 2: expected no such key \(known keys: steps/)
  })
})
