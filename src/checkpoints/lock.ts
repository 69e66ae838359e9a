/**
 * One run per directory: an exclusive lock file `<dir>/.lock` (project issue #10).
 *
 * The lock file is created with `wx` (fails if it exists) and holds JSON `{pid, hostname, startedAt, token}`.
 * If it already exists:
 * - held by a process on this host that is dead (`process.kill(pid, 0)` throws ESRCH), or by this process's
 *   pid but not created by this process (a previous run that had the same pid, common in containers):
 *   it is stale and is taken over;
 * - otherwise: `InputError` naming the directory and the holder.
 *
 * A takeover renames the stale file aside and checks it is the one judged stale before creating a new lock, so
 * two runs that find the same stale lock do not both win. `release()` removes the file only if it still holds
 * this lock's token; it is idempotent and never throws (a lock left behind is stale and is taken over later).
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {randomBytes} from 'node:crypto'
import {InputError} from '../errors.js'
import {errnoCode, ioError} from './atomic.js'

export const LOCK_FILE = '.lock'

/** The contents of a lock file. */
export interface LockInfo {
  pid: number
  hostname: string
  /** When the lock was taken, ISO 8601. */
  startedAt: string
  /** Random id of this acquisition, so a release never removes another run's lock. */
  token: string
}

export interface Lock {
  /** The lock file's path. */
  readonly path: string
  readonly info: LockInfo
  /** Remove the lock. Idempotent; never throws. */
  release(): void
}

/** Tokens of the locks this process holds, to tell "held by me" from "stale lock of an earlier pid twin". */
const heldTokens = new Set<string>()

/**
 * Take the exclusive lock on `dir` (created if missing). Throws `InputError` if another live process holds it.
 */
export function acquireLock(dir: string): Lock {
  try {
    fs.mkdirSync(dir, {recursive: true})
  } catch (err) {
    throw ioError(dir, 'create', err)
  }
  const lockPath = path.join(dir, LOCK_FILE)
  const info: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    token: randomBytes(12).toString('hex'),
  }
  let unreadable: string | undefined
  // A few rounds: each lost race re-reads the lock; a live holder ends the loop with an error.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(lockPath, info)) {
      heldTokens.add(info.token)
      return makeLock(lockPath, info)
    }
    const raw = readLockFile(lockPath)
    if (raw === undefined) continue // removed meanwhile; try again
    const holder = parseLockInfo(raw)
    if (holder === undefined) {
      // Another run may be between creating the file and writing it: give it a moment, then give up.
      unreadable = raw
      sleepMs(20 * (attempt + 1))
      continue
    }
    unreadable = undefined
    if (!isStale(holder)) {
      const where = holder.hostname === os.hostname() ? '' : ` on host ${holder.hostname}`
      const who = holder.pid === process.pid ? 'this process' : 'another ligo run'
      throw new InputError(
        `${dir} is locked by ${who}: pid ${holder.pid}${where}, since ${holder.startedAt}; ` +
          `wait for it to finish or choose another directory (if that run is gone, delete ${lockPath})`,
        {code: 'E_LOCKED'},
      )
    }
    takeOver(lockPath, raw)
  }
  if (unreadable !== undefined) {
    throw new InputError(
      `${dir} is locked, but the lock file ${lockPath} is unreadable (${JSON.stringify(unreadable.slice(0, 80))}); ` +
        'if no other ligo run uses this directory, delete the lock file and run again',
      {code: 'E_LOCKED'},
    )
  }
  throw new InputError(`${dir}: could not take the lock ${lockPath} (other runs keep racing for it); try again`, {
    code: 'E_LOCKED',
  })
}

/** Read the lock on `dir`, if any (for status messages). Undefined if there is none or it is unreadable. */
export function readLock(dir: string): LockInfo | undefined {
  const raw = readLockFile(path.join(dir, LOCK_FILE))
  return raw === undefined ? undefined : parseLockInfo(raw)
}

function makeLock(lockPath: string, info: LockInfo): Lock {
  let released = false
  return {
    path: lockPath,
    info,
    release(): void {
      if (released) return
      released = true
      heldTokens.delete(info.token)
      try {
        const raw = fs.readFileSync(lockPath, 'utf8')
        if (parseLockInfo(raw)?.token === info.token) fs.unlinkSync(lockPath)
      } catch {
        // best effort: a lock left behind is stale and the next run takes it over
      }
    },
  }
}

/** Create the lock file exclusively with `info` in it. False if it already exists. */
function tryCreate(lockPath: string, info: LockInfo): boolean {
  let fd: number
  try {
    fd = fs.openSync(lockPath, 'wx', 0o644)
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false
    throw ioError(lockPath, 'create lock file', err)
  }
  let failure: unknown
  try {
    fs.writeSync(fd, JSON.stringify(info) + '\n')
    fs.fsyncSync(fd)
  } catch (err) {
    failure = err
  }
  try {
    fs.closeSync(fd)
  } catch (err) {
    failure ??= err
  }
  if (failure !== undefined) {
    try {
      fs.unlinkSync(lockPath)
    } catch {
      // reporting the write error matters more
    }
    throw ioError(lockPath, 'write lock file', failure)
  }
  return true
}

/**
 * Remove a stale lock whose contents were `staleRaw`: rename it aside, then check that what was renamed is the
 * stale lock and not a fresh one another run created in between (if so, put it back).
 */
function takeOver(lockPath: string, staleRaw: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(6).toString('hex')}`
  try {
    fs.renameSync(lockPath, aside)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return // someone else removed it; retry
    throw ioError(lockPath, 'take over stale lock', err)
  }
  let moved: string | undefined
  try {
    moved = fs.readFileSync(aside, 'utf8')
  } catch {
    moved = undefined
  }
  if (moved === staleRaw) {
    try {
      fs.unlinkSync(aside)
    } catch {
      // a stray stale file is harmless
    }
    return
  }
  // We moved a lock that another run had just created: give it back (without clobbering a newer one).
  try {
    fs.linkSync(aside, lockPath)
  } catch {
    // another run created a lock meanwhile; the one we moved is superseded
  }
  try {
    fs.unlinkSync(aside)
  } catch {
    // harmless leftover
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function readLockFile(lockPath: string): string | undefined {
  try {
    return fs.readFileSync(lockPath, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw ioError(lockPath, 'read lock file', err)
  }
}

function parseLockInfo(raw: string): LockInfo | undefined {
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  if (!Number.isSafeInteger(o.pid) || (o.pid as number) <= 0) return undefined
  if (typeof o.hostname !== 'string' || typeof o.startedAt !== 'string' || typeof o.token !== 'string') return undefined
  return {pid: o.pid as number, hostname: o.hostname, startedAt: o.startedAt, token: o.token}
}

/** A lock is stale if its holder is on this host and is not running (or is "us" without our knowing it). */
function isStale(holder: LockInfo): boolean {
  if (holder.hostname !== os.hostname()) return false // cannot check another host's processes
  if (holder.pid === process.pid) return !heldTokens.has(holder.token)
  try {
    process.kill(holder.pid, 0)
    return false
  } catch (err) {
    return errnoCode(err) === 'ESRCH' // EPERM: alive but owned by another user
  }
}
