import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {InputError} from '../../src/errors.js'
import {LOCK_FILE, acquireLock, readLock} from '../../src/checkpoints/lock.js'
import {makeTemp, removeTemp, thrown} from './helpers.js'

let dir: string
beforeEach(() => {
  dir = makeTemp('ligo-lock-')
})
afterEach(() => removeTemp(dir))

const lockPath = () => path.join(dir, LOCK_FILE)
const writeLock = (info: Record<string, unknown>) =>
  fs.writeFileSync(lockPath(), JSON.stringify({hostname: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z', token: 'other', ...info}))

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
  return Number(child.stdout)
}

describe('acquireLock', () => {
  it('creates .lock with pid, host, start time and token; release removes it, idempotently', () => {
    const before = Date.now()
    const lock = acquireLock(dir)
    const after = Date.now()
    expect(lock.path).toBe(lockPath())
    const info = JSON.parse(fs.readFileSync(lockPath(), 'utf8'))
    expect(info).toEqual(lock.info)
    expect(info.pid).toBe(process.pid)
    expect(info.hostname).toBe(os.hostname())
    // startedAt is the moment of acquisition (ISO, millisecond resolution), whatever the machine's load.
    expect(Date.parse(info.startedAt)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(info.startedAt)).toBeLessThanOrEqual(after)
    expect(readLock(dir)).toEqual(info)
    lock.release()
    expect(fs.existsSync(lockPath())).toBe(false)
    lock.release()
    expect(readLock(dir)).toBeUndefined()
    acquireLock(dir).release() // free again
  })

  it('creates the directory if needed', () => {
    const sub = path.join(dir, 'a', 'b')
    acquireLock(sub).release()
    expect(fs.statSync(sub).isDirectory()).toBe(true)
  })

  it('refuses a second lock while held, naming the directory and the pid', () => {
    const lock = acquireLock(dir)
    const err = thrown(() => acquireLock(dir))
    expect(err).toBeInstanceOf(InputError)
    expect((err as InputError).message).toContain(`${dir} is locked by this process: pid ${process.pid}, since `)
    expect((err as InputError).code).toBe('E_LOCKED')
    lock.release()
  })

  it('refuses a lock held by another live process on this host', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], {stdio: 'ignore'})
    try {
      await new Promise((resolve) => child.once('spawn', resolve))
      writeLock({pid: child.pid})
      const err = thrown(() => acquireLock(dir))
      expect(err).toBeInstanceOf(InputError)
      expect((err as Error).message).toContain(`${dir} is locked by another ligo run: pid ${child.pid}, since 2020-01-01`)
      expect((err as Error).message).toContain(`delete ${lockPath()}`)
      expect(readLock(dir)?.pid).toBe(child.pid) // untouched
    } finally {
      child.kill()
    }
  })

  it('takes over a stale lock whose process is dead', () => {
    const pid = deadPid()
    writeLock({pid})
    const lock = acquireLock(dir)
    expect(readLock(dir)?.pid).toBe(process.pid)
    expect(fs.readdirSync(dir)).toEqual([LOCK_FILE]) // no leftovers from the takeover
    lock.release()
    expect(fs.existsSync(lockPath())).toBe(false)
  })

  it('takes over a lock with this process pid that this process did not create (pid reuse)', () => {
    writeLock({pid: process.pid, token: 'from-an-earlier-run'})
    const lock = acquireLock(dir)
    expect(readLock(dir)?.token).toBe(lock.info.token)
    lock.release()
  })

  it('refuses a lock from another host (its pid cannot be checked)', () => {
    writeLock({pid: deadPid(), hostname: 'some-other-host.example'})
    expect(() => acquireLock(dir)).toThrow(/pid \d+ on host some-other-host\.example/)
  })

  it('refuses an unreadable lock file, telling how to clear it', () => {
    fs.writeFileSync(lockPath(), 'garbage')
    const err = thrown(() => acquireLock(dir))
    expect(err).toBeInstanceOf(InputError)
    expect((err as Error).message).toContain(`the lock file ${lockPath()} is unreadable ("garbage")`)
    expect((err as Error).message).toContain('delete the lock file')
  })

  it('release never removes a lock that another run took over', () => {
    const lock = acquireLock(dir)
    writeLock({pid: process.pid, token: 'someone-else'})
    lock.release()
    expect(readLock(dir)?.token).toBe('someone-else')
    fs.rmSync(lockPath())
    expect(() => lock.release()).not.toThrow()
  })
})
