/**
 * Crash-safe file and directory writes (project issue #10).
 *
 * - `writeFileAtomic`: write a temp file beside the target, fsync it, rename it over the target, fsync the
 *   directory. Readers see the old file or the new one, never a torn one.
 * - `appendLineDurable`: one JSONL line per call, optionally fsynced.
 * - `commitDirAtomic` / `recoverDir`: publish a fully written directory in place of another (see the
 *   protocol below), and finish or roll back a swap that a crash interrupted.
 * - `ensureOutputDir`: refuse to write into a non-empty output without `force`.
 *
 * I/O failures come back as `LigoError` (exit code 1) naming the path and the cause; disk full and permission
 * problems get a message that says so. Nothing here prints.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {randomBytes} from 'node:crypto'
import {InputError, LigoError, OutputExistsError} from '../errors.js'

/** What `writeFileAtomic` writes: bytes, a string (written as UTF-8), or chunks written back to back. */
export type AtomicData = Uint8Array | string | readonly Uint8Array[]

export interface WriteAtomicOptions {
  /** File mode for a new file (before the umask). Default 0o666. */
  mode?: number
  /**
   * Test seam: called after the temp file is written and fsynced, just before the rename. Throwing from it
   * simulates a failure (or a crash) at the worst moment; the temp file is removed and the target is untouched.
   */
  beforeRename?: (tmpPath: string) => void
}

/**
 * Write `data` to `file` atomically: `file.tmp-<pid>-<rand>` in the same directory, fsync, rename over `file`,
 * fsync the directory. On failure the temp file is removed and the old `file` (if any) is left as it was.
 */
export function writeFileAtomic(file: string, data: AtomicData, opts: WriteAtomicOptions = {}): void {
  const out = AtomicFile.open(file, opts)
  try {
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data
    let at = 0
    for (const chunk of chunks) {
      out.write(chunk, at)
      at += chunk.byteLength
    }
  } catch (err) {
    out.abort()
    throw err
  }
  out.commit()
}

/**
 * A file written piece by piece, at any positions and in any order, then published atomically by `commit()`
 * exactly as `writeFileAtomic` publishes (temp file beside the target, fsync, rename, fsync the directory), for
 * files too large to assemble in memory first. `abort()` removes the temp file; the target is never touched
 * before `commit()`.
 */
export class AtomicFile {
  private fd: number | undefined

  private constructor(
    readonly file: string,
    readonly tmp: string,
    fd: number,
    private readonly opts: WriteAtomicOptions,
  ) {
    this.fd = fd
  }

  static open(file: string, opts: WriteAtomicOptions = {}): AtomicFile {
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
    let fd: number
    try {
      fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o666)
    } catch (err) {
      removeQuietly(tmp)
      throw ioError(file, 'write', err)
    }
    return new AtomicFile(file, tmp, fd, opts)
  }

  /** Write all of `chunk` at byte `position` of the file. */
  write(chunk: Uint8Array, position: number): void {
    if (this.fd === undefined) throw new LigoError(`AtomicFile(${this.file}): written after commit or abort`)
    try {
      writeAll(this.fd, chunk, position)
    } catch (err) {
      this.abort()
      throw ioError(this.file, 'write', err)
    }
  }

  commit(): void {
    if (this.fd === undefined) throw new LigoError(`AtomicFile(${this.file}): committed after commit or abort`)
    try {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      this.fd = undefined
      this.opts.beforeRename?.(this.tmp)
      fs.renameSync(this.tmp, this.file)
    } catch (err) {
      this.abort()
      throw ioError(this.file, 'write', err)
    }
    fsyncDir(path.dirname(this.file))
  }

  /** Close and remove the temp file (idempotent; never throws). */
  abort(): void {
    if (this.fd !== undefined) closeQuietly(this.fd)
    this.fd = undefined
    removeQuietly(this.tmp)
  }
}

export interface AppendOptions {
  /** fsync after the append, so the line survives a power loss. Default false (the OS flushes it soon). */
  fsync?: boolean
}

/**
 * Append one line (e.g. a JSONL metrics record) to `file`, creating it if needed. A trailing newline is added
 * when missing. The line must not contain other newlines: one call, one record.
 */
export function appendLineDurable(file: string, line: string, opts: AppendOptions = {}): void {
  const text = line.endsWith('\n') ? line : line + '\n'
  if (text.indexOf('\n') !== text.length - 1) {
    throw new LigoError(`appendLineDurable(${file}): the line contains a newline; a JSONL record must be one line`)
  }
  let fd: number | undefined
  try {
    fd = fs.openSync(file, 'a')
    writeAll(fd, Buffer.from(text, 'utf8'))
    if (opts.fsync) fs.fsyncSync(fd)
    fs.closeSync(fd)
    fd = undefined
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd)
    throw ioError(file, 'append to', err)
  }
}

/*
 * Directory swap protocol (commitDirAtomic), for a final directory F:
 *
 *   0. recoverDir(F) settles any earlier interrupted swap; every file under the new directory is fsynced.
 *   1. If F does not exist: rename(new, F). Done (one atomic step).
 *   2. Otherwise: rename(new, F.new-swap)   -- the new directory is complete from here on
 *   3.            rename(F, F.old-swap)
 *   4.            rename(F.new-swap, F)
 *   5.            remove F.old-swap
 *   (the parent directory is fsynced after every rename)
 *
 * Recovery rule (recoverDir), by which names exist after a crash:
 *
 *   F                 -> nothing to do.
 *   F + F.old-swap    -> crashed in 5: remove F.old-swap (F is the new, complete directory).
 *   F + F.new-swap    -> crashed between 2 and 3: roll forward (do 3, 4, 5).
 *   F.new-swap + F.old-swap (no F) -> crashed between 3 and 4: roll forward (do 4, 5).
 *   F.new-swap only   -> roll forward (rename it to F).
 *   F.old-swap only   -> F was removed by hand after 5 started? Roll back: rename F.old-swap to F.
 *
 * F.new-swap is only ever created by a rename of a complete, fsynced directory, and F.old-swap only by a
 * rename of the complete F, so both are whole whenever the rule reads them, except F.old-swap during step 5,
 * when F exists and the rule deletes it. Callers must hold the run's lock (lock.ts): two swaps of the same F
 * must not run at once.
 */

/** Suffixes of the two names a directory swap uses beside the final directory. */
export const SWAP_NEW_SUFFIX = '.new-swap'
export const SWAP_OLD_SUFFIX = '.old-swap'

/** What `recoverDir` did. */
export type RecoverAction = 'none' | 'removed-old' | 'rolled-forward' | 'rolled-back'

/**
 * Publish `tmpDir` (fully written) as `finalDir`, replacing any existing `finalDir`, such that a crash at any
 * point leaves either the old or the new complete directory findable by `recoverDir(finalDir)`.
 * `tmpDir` must be in the same parent directory as `finalDir` (renames must not cross file systems).
 */
export function commitDirAtomic(tmpDir: string, finalDir: string): void {
  const src = path.resolve(tmpDir)
  const dst = path.resolve(finalDir)
  if (path.dirname(src) !== path.dirname(dst)) {
    throw new LigoError(
      `commitDirAtomic: ${tmpDir} must be in the same directory as ${finalDir} (found ${path.dirname(src)} vs ${path.dirname(dst)})`,
    )
  }
  if (src === dst) throw new LigoError(`commitDirAtomic: the new and the final directory are the same (${finalDir})`)
  if (!isDirectory(src)) throw new LigoError(`commitDirAtomic: ${tmpDir} is not a directory`)
  const newSwap = dst + SWAP_NEW_SUFFIX
  const oldSwap = dst + SWAP_OLD_SUFFIX
  const parent = path.dirname(dst)

  if (src !== newSwap) recoverDir(dst)
  fsyncTree(src)
  if (!exists(dst)) {
    rename(src, dst)
    fsyncDir(parent)
    return
  }
  if (src !== newSwap) {
    rename(src, newSwap)
    fsyncDir(parent)
  }
  rename(dst, oldSwap)
  fsyncDir(parent)
  rename(newSwap, dst)
  fsyncDir(parent)
  removeTree(oldSwap)
}

/**
 * Settle a directory swap that a crash interrupted, following the recovery rule above; returns what it did.
 * It renames and deletes, so call it only while holding the run's lock (or when no run can be swapping
 * `finalDir`); a reader without the lock should use `resolveCommittedDir` instead.
 */
export function recoverDir(finalDir: string): RecoverAction {
  const dst = path.resolve(finalDir)
  const newSwap = dst + SWAP_NEW_SUFFIX
  const oldSwap = dst + SWAP_OLD_SUFFIX
  const parent = path.dirname(dst)
  const hasFinal = exists(dst)
  const hasNew = exists(newSwap)
  const hasOld = exists(oldSwap)

  if (hasFinal && !hasNew) {
    if (!hasOld) return 'none'
    removeTree(oldSwap)
    return 'removed-old'
  }
  if (hasFinal && hasNew) {
    // Crashed between steps 2 and 3. A leftover F.old-swap here can only be older than F; drop it first.
    if (hasOld) removeTree(oldSwap)
    rename(dst, oldSwap)
    fsyncDir(parent)
    rename(newSwap, dst)
    fsyncDir(parent)
    removeTree(oldSwap)
    return 'rolled-forward'
  }
  if (hasNew) {
    rename(newSwap, dst)
    fsyncDir(parent)
    if (hasOld) removeTree(oldSwap)
    return 'rolled-forward'
  }
  if (hasOld) {
    rename(oldSwap, dst)
    fsyncDir(parent)
    return 'rolled-back'
  }
  return 'none'
}

/**
 * For readers that must not modify a directory another run may be swapping (they do not hold its lock): the
 * path of a complete version of `finalDir` without changing anything. `finalDir` if it exists (during a swap it
 * is the old or the new complete directory), else `F.new-swap` (a crash between steps 3 and 4), else
 * `F.old-swap`; undefined if none exists.
 */
export function resolveCommittedDir(finalDir: string): string | undefined {
  const dst = path.resolve(finalDir)
  for (const candidate of [dst, dst + SWAP_NEW_SUFFIX, dst + SWAP_OLD_SUFFIX]) if (isDirectory(candidate)) return candidate
  return undefined
}

/**
 * Make sure `dir` can be used as an output directory: create it if missing; if it exists and is not empty,
 * throw `OutputExistsError` unless `force` (with `force` its contents are kept; the caller overwrites files).
 * Returns whether the directory was created.
 */
export function ensureOutputDir(dir: string, opts: {force?: boolean} = {}): {created: boolean} {
  let stat: fs.Stats | undefined
  try {
    stat = fs.statSync(dir)
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError(dir, 'inspect', err)
  }
  if (stat === undefined) {
    try {
      fs.mkdirSync(dir, {recursive: true})
    } catch (err) {
      throw ioError(dir, 'create', err)
    }
    return {created: true}
  }
  if (!stat.isDirectory()) throw new InputError(`${dir} exists and is not a directory: choose another output`)
  // The caller's own lock file (taken before this check, so that a busy directory names its holder) is not content.
  if (!opts.force && fs.readdirSync(dir).some((f) => f !== '.lock')) throw new OutputExistsError(dir)
  return {created: false}
}

/**
 * Turn an error thrown by a file system call into a `LigoError` naming the path and the cause. Errors that are
 * already `LigoError`s, and errors without an errno code (bugs), are returned unchanged.
 */
export function ioError(file: string, verb: string, err: unknown): unknown {
  if (err instanceof LigoError) return err
  const code = errnoCode(err)
  if (code === undefined) return err
  const detail = err instanceof Error ? err.message : String(err)
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full (ENOSPC); free some space and run again',
    EDQUOT: 'the disk quota is exceeded (EDQUOT); free some space and run again',
    EACCES: 'permission denied (EACCES); check the permissions of the file and its directory, or choose another path',
    EPERM: 'operation not permitted (EPERM); check the permissions of the file and its directory, or choose another path',
    EROFS: 'the file system is read-only (EROFS); choose a writable path',
  }
  const message = why[code] ? `cannot ${verb} ${file}: ${why[code]}` : `cannot ${verb} ${file}: ${detail}`
  return new LigoError(message, {code: 'E_IO', exitCode: 1, cause: err})
}

/** The errno code (`'ENOENT'`, ...) of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as {code: unknown}).code
    if (typeof code === 'string') return code
  }
  return undefined
}

/** fsync a directory so that renames and creations in it are durable. Platforms that cannot do it are skipped. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch (err) {
    const code = errnoCode(err)
    // Windows and some file systems refuse to open or fsync a directory; nothing more can be done there.
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EBADF') {
      throw ioError(dir, 'sync directory', err)
    }
  } finally {
    if (fd !== undefined) closeQuietly(fd)
  }
}

function writeAll(fd: number, chunk: Uint8Array, position?: number): void {
  let done = 0
  while (done < chunk.byteLength) {
    // Large writes may be partial; at most 1 GiB per call keeps below the platform's per-call limit.
    const len = Math.min(chunk.byteLength - done, 1 << 30)
    const n = position === undefined ? fs.writeSync(fd, chunk, done, len) : fs.writeSync(fd, chunk, done, len, position + done)
    done += n
  }
}

/** fsync every file and directory under `dir` (the directory itself last). */
function fsyncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      fsyncTree(p)
    } else if (entry.isFile()) {
      let fd: number | undefined
      try {
        fd = fs.openSync(p, 'r')
        fs.fsyncSync(fd)
      } catch (err) {
        throw ioError(p, 'sync', err)
      } finally {
        if (fd !== undefined) closeQuietly(fd)
      }
    }
  }
  fsyncDir(dir)
}

function rename(from: string, to: string): void {
  try {
    fs.renameSync(from, to)
  } catch (err) {
    throw ioError(to, `rename ${from} to`, err)
  }
}

function removeTree(p: string): void {
  try {
    fs.rmSync(p, {recursive: true, force: true})
  } catch (err) {
    throw ioError(p, 'remove', err)
  }
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false
    throw ioError(p, 'inspect', err)
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd)
  } catch {
    // already failing; the original error is the one to report
  }
}

function removeQuietly(p: string): void {
  try {
    fs.unlinkSync(p)
  } catch {
    // the temp file may never have been created
  }
}
