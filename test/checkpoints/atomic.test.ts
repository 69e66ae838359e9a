import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {InputError, LigoError, OutputExistsError} from '../../src/errors.js'
import {
  SWAP_NEW_SUFFIX,
  SWAP_OLD_SUFFIX,
  appendLineDurable,
  commitDirAtomic,
  ensureOutputDir,
  recoverDir,
  resolveCommittedDir,
  writeFileAtomic,
} from '../../src/checkpoints/atomic.js'
import {makeTemp, removeTemp, thrown} from './helpers.js'

let dir: string
beforeEach(() => {
  dir = makeTemp('ligo-atomic-')
})
afterEach(() => removeTemp(dir))

const errno = (code: string) => Object.assign(new Error(`simulated ${code}`), {code})

/** Write a small directory tree with a marker file. */
function makeTree(p: string, marker: string): void {
  fs.mkdirSync(path.join(p, 'sub'), {recursive: true})
  fs.writeFileSync(path.join(p, 'marker.txt'), marker)
  fs.writeFileSync(path.join(p, 'sub', 'data.bin'), Buffer.from(marker.repeat(3)))
}

const marker = (p: string) => fs.readFileSync(path.join(p, 'marker.txt'), 'utf8')

describe('writeFileAtomic', () => {
  it('writes strings, bytes and chunks, and leaves no temp file', () => {
    const file = path.join(dir, 'a.json')
    writeFileAtomic(file, '{"x": "é"}\n')
    expect(fs.readFileSync(file, 'utf8')).toBe('{"x": "é"}\n')
    writeFileAtomic(file, Uint8Array.of(1, 2, 3))
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3])
    writeFileAtomic(file, [Uint8Array.of(4), new Uint8Array(0), Buffer.from([5, 6]).subarray(1)])
    expect([...fs.readFileSync(file)]).toEqual([4, 6])
    expect(fs.readdirSync(dir)).toEqual(['a.json'])
  })

  it('replaces an existing file by rename (a new inode), never in place', () => {
    const file = path.join(dir, 'ckpt.bin')
    fs.writeFileSync(file, 'old')
    const before = fs.statSync(file).ino
    const reader = fs.openSync(file, 'r') // a reader holding the old file still sees the old bytes
    writeFileAtomic(file, 'new contents')
    expect(fs.readFileSync(file, 'utf8')).toBe('new contents')
    expect(fs.statSync(file).ino).not.toBe(before)
    const buf = Buffer.alloc(3)
    fs.readSync(reader, buf, 0, 3, 0)
    fs.closeSync(reader)
    expect(buf.toString()).toBe('old')
    expect(fs.readdirSync(dir)).toEqual(['ckpt.bin'])
  })

  it('a failure just before the rename leaves the old file intact and removes the temp file', () => {
    const file = path.join(dir, 'model.safetensors')
    fs.writeFileSync(file, 'old')
    let tmpSeen = ''
    const err = thrown(() =>
      writeFileAtomic(file, 'new', {
        beforeRename: (tmp) => {
          tmpSeen = tmp
          expect(fs.readFileSync(tmp, 'utf8')).toBe('new') // fully written before the rename
          throw new Error('crash')
        },
      }),
    )
    expect((err as Error).message).toBe('crash') // not an errno error: passed through unchanged
    expect(path.dirname(tmpSeen)).toBe(dir)
    expect(path.basename(tmpSeen)).toMatch(new RegExp(`^model\\.safetensors\\.tmp-${process.pid}-[0-9a-f]+$`))
    expect(fs.readFileSync(file, 'utf8')).toBe('old')
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors'])
  })

  it('reports disk full as a LigoError naming the path, exit code 1', () => {
    const file = path.join(dir, 'out.bin')
    fs.writeFileSync(file, 'old')
    const err = thrown(() => writeFileAtomic(file, 'new', {beforeRename: () => { throw errno('ENOSPC') }}))
    expect(err).toBeInstanceOf(LigoError)
    const e = err as LigoError
    expect(e.message).toBe(`cannot write ${file}: the disk is full (ENOSPC); free some space and run again`)
    expect(e.exitCode).toBe(1)
    expect(e.code).toBe('E_IO')
    expect((e.cause as Error).message).toBe('simulated ENOSPC')
    expect(fs.readFileSync(file, 'utf8')).toBe('old')
    expect(fs.readdirSync(dir)).toEqual(['out.bin'])
  })

  it('reports permission and read-only errors with their cause', () => {
    const file = path.join(dir, 'out.bin')
    for (const [code, text] of [['EACCES', 'permission denied (EACCES)'], ['EPERM', 'operation not permitted (EPERM)'], ['EROFS', 'read-only (EROFS)']]) {
      const err = thrown(() => writeFileAtomic(file, 'x', {beforeRename: () => { throw errno(code) }}))
      expect(err).toBeInstanceOf(LigoError)
      expect((err as Error).message).toContain(`cannot write ${file}: `)
      expect((err as Error).message).toContain(text)
    }
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('reports real file system errors: a missing directory, a directory in the way', () => {
    const missing = path.join(dir, 'no', 'such', 'file')
    const e1 = thrown(() => writeFileAtomic(missing, 'x'))
    expect(e1).toBeInstanceOf(LigoError)
    expect((e1 as Error).message).toContain(`cannot write ${missing}: ENOENT`)
    const sub = path.join(dir, 'sub')
    fs.mkdirSync(sub)
    fs.writeFileSync(path.join(sub, 'keep'), 'k')
    expect(thrown(() => writeFileAtomic(sub, 'x'))).toBeInstanceOf(LigoError)
    expect(fs.readFileSync(path.join(sub, 'keep'), 'utf8')).toBe('k')
    expect(fs.readdirSync(dir)).toEqual(['sub'])
  })
})

describe('appendLineDurable', () => {
  it('appends one line per call, adding the newline, with or without fsync', () => {
    const file = path.join(dir, 'metrics.jsonl')
    appendLineDurable(file, JSON.stringify({step: 1, loss: 2.5}))
    appendLineDurable(file, JSON.stringify({step: 2, loss: 2.25}) + '\n', {fsync: true})
    expect(fs.readFileSync(file, 'utf8')).toBe('{"step":1,"loss":2.5}\n{"step":2,"loss":2.25}\n')
  })

  it('refuses a line with an embedded newline, and names the path on I/O errors', () => {
    const file = path.join(dir, 'm.jsonl')
    expect(() => appendLineDurable(file, 'a\nb')).toThrow(/contains a newline/)
    expect(fs.existsSync(file)).toBe(false)
    const e = thrown(() => appendLineDurable(path.join(dir, 'nope', 'm.jsonl'), '{}'))
    expect(e).toBeInstanceOf(LigoError)
    expect((e as Error).message).toContain(`cannot append to ${path.join(dir, 'nope', 'm.jsonl')}`)
  })
})

describe('ensureOutputDir', () => {
  it('creates a missing directory (with parents)', () => {
    const out = path.join(dir, 'runs', 'a')
    expect(ensureOutputDir(out)).toEqual({created: true})
    expect(fs.statSync(out).isDirectory()).toBe(true)
    expect(ensureOutputDir(out)).toEqual({created: false}) // empty: fine without force
  })

  it('refuses a non-empty directory without force, and keeps its contents with force', () => {
    const out = path.join(dir, 'run')
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, 'ckpt.safetensors'), 'x')
    const err = thrown(() => ensureOutputDir(out))
    expect(err).toBeInstanceOf(OutputExistsError)
    expect((err as OutputExistsError).message).toContain(`${out} already exists: pass --force`)
    expect((err as OutputExistsError).exitCode).toBe(2)
    expect(ensureOutputDir(out, {force: true})).toEqual({created: false})
    expect(fs.readdirSync(out)).toEqual(['ckpt.safetensors'])
  })

  it('refuses a file where a directory is expected, even with force', () => {
    const out = path.join(dir, 'file')
    fs.writeFileSync(out, 'x')
    expect(thrown(() => ensureOutputDir(out, {force: true}))).toBeInstanceOf(InputError)
  })
})

describe('commitDirAtomic and recoverDir', () => {
  const final = () => path.join(dir, 'ckpt')
  const names = () => fs.readdirSync(dir).sort()

  it('publishes a new directory when none exists', () => {
    const tmp = path.join(dir, 'ckpt.tmp-1')
    makeTree(tmp, 'new')
    commitDirAtomic(tmp, final())
    expect(marker(final())).toBe('new')
    expect(names()).toEqual(['ckpt'])
  })

  it('replaces an existing directory and leaves no swap names behind', () => {
    makeTree(final(), 'old')
    const tmp = path.join(dir, 'ckpt.tmp-2')
    makeTree(tmp, 'new')
    commitDirAtomic(tmp, final())
    expect(marker(final())).toBe('new')
    expect(fs.readFileSync(path.join(final(), 'sub', 'data.bin'), 'utf8')).toBe('newnewnew')
    expect(names()).toEqual(['ckpt'])
  })

  it('settles an earlier interrupted swap before starting', () => {
    makeTree(final(), 'current')
    makeTree(final() + SWAP_OLD_SUFFIX, 'stale') // crash during an earlier step 5
    const tmp = path.join(dir, 'ckpt.tmp-3')
    makeTree(tmp, 'newest')
    commitDirAtomic(tmp, final())
    expect(marker(final())).toBe('newest')
    expect(names()).toEqual(['ckpt'])
  })

  it('refuses a new directory in another parent, or a missing one', () => {
    const other = path.join(dir, 'elsewhere', 'x')
    makeTree(other, 'n')
    expect(() => commitDirAtomic(other, final())).toThrow(/must be in the same directory/)
    expect(() => commitDirAtomic(path.join(dir, 'missing'), final())).toThrow(/is not a directory/)
    expect(marker(other)).toBe('n')
  })

  // Each crash point of the protocol, rebuilt by hand, and what recovery must leave.
  const states: {label: string; make: (f: string) => void; action: string; want: string | undefined}[] = [
    {label: 'no swap in progress', make: (f) => makeTree(f, 'old'), action: 'none', want: 'old'},
    {label: 'nothing at all', make: () => undefined, action: 'none', want: undefined},
    {
      label: 'crash between steps 2 and 3 (F + F.new-swap): roll forward',
      make: (f) => (makeTree(f, 'old'), makeTree(f + SWAP_NEW_SUFFIX, 'new')),
      action: 'rolled-forward',
      want: 'new',
    },
    {
      label: 'crash between steps 3 and 4 (F.old-swap + F.new-swap): roll forward',
      make: (f) => (makeTree(f + SWAP_OLD_SUFFIX, 'old'), makeTree(f + SWAP_NEW_SUFFIX, 'new')),
      action: 'rolled-forward',
      want: 'new',
    },
    {
      label: 'crash during step 5 (F + partial F.old-swap): remove the old one',
      make: (f) => (makeTree(f, 'new'), fs.mkdirSync(f + SWAP_OLD_SUFFIX), fs.writeFileSync(path.join(f + SWAP_OLD_SUFFIX, 'x'), '')),
      action: 'removed-old',
      want: 'new',
    },
    {label: 'only F.new-swap', make: (f) => makeTree(f + SWAP_NEW_SUFFIX, 'new'), action: 'rolled-forward', want: 'new'},
    {label: 'only F.old-swap: roll back', make: (f) => makeTree(f + SWAP_OLD_SUFFIX, 'old'), action: 'rolled-back', want: 'old'},
    {
      label: 'all three: the new one wins',
      make: (f) => (makeTree(f, 'mid'), makeTree(f + SWAP_OLD_SUFFIX, 'old'), makeTree(f + SWAP_NEW_SUFFIX, 'new')),
      action: 'rolled-forward',
      want: 'new',
    },
  ]
  for (const s of states) {
    it(`recoverDir: ${s.label}`, () => {
      s.make(final())
      // A reader that may not modify anything still finds a complete version.
      const readable = resolveCommittedDir(final())
      if (s.want === undefined) expect(readable).toBeUndefined()
      else expect(['old', 'new', 'mid']).toContain(marker(readable as string))
      expect(recoverDir(final())).toBe(s.action)
      if (s.want === undefined) expect(names()).toEqual([])
      else {
        expect(marker(final())).toBe(s.want)
        expect(fs.readdirSync(path.join(final(), 'sub'))).toEqual(['data.bin'])
        expect(names()).toEqual(['ckpt'])
      }
      expect(recoverDir(final())).toBe('none') // idempotent
    })
  }
})
