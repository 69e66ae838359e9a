/**
 * Every command in README.md runs as written on a fresh clone (issue #32). The commands are read out of the README's
 * code blocks, so a command added there is checked without editing this file:
 *  - `npx ligo …`: parsed by the real command class (oclif's parser with the command's flags and args: unknown
 *    flags, bad values and missing required flags fail here), and the main job (prepare → train → grow → train →
 *    eval → generate → info) is run end to end with the same commands on tiny settings (only the values of size
 *    flags are made smaller; outputs go to a temp directory);
 *  - `npm …`: the script exists in package.json;
 *  - `make -C DIR TARGET`: `make -n` accepts it (the long-running study is not run), and `make help` lists the
 *    targets the README names;
 *  - `torchrun … SCRIPT …` (the PyTorch companion): the script exists, and when /usr/bin/python3 has torch, each of
 *    the line's flags is one its --help lists.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {Config, Flags, Parser} from '@oclif/core'
import {beforeAll, describe, expect, it} from 'vitest'

import {tmpDir} from './helpers.js'

const README = fs.readFileSync('README.md', 'utf8')

/** The command lines of the README's code blocks (a block counts when its first line is a command). */
function readmeCommands(): string[] {
  const out: string[] = []
  for (const m of README.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    const lines = m[1].replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
    if (lines.length === 0 || !/^(npx|npm|make|torchrun) /.test(lines[0])) continue
    for (const l of lines) out.push(l.replace(/\s+#.*$/, '').trim())
  }
  return out
}

/** Splits a command line into words (double-quoted strings kept whole). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2])
}

let config: Config
beforeAll(async () => {
  if (!fs.existsSync('dist/commands/train.js')) throw new Error('dist/ is missing: run `npm run build` first')
  config = await Config.load(path.resolve('.'))
})

/** The command id (`data:prepare`) and its argv, for `npx ligo data prepare …`. */
function commandOf(argv: string[]): {id: string; rest: string[]} {
  for (let n = Math.min(3, argv.length); n >= 1; n--) {
    const id = argv.slice(0, n).join(':')
    if (config.findCommand(id)) return {id, rest: argv.slice(n)}
  }
  throw new Error(`no ligo command in: ${argv.join(' ')}`)
}

async function parses(argv: string[]): Promise<void> {
  const {id, rest} = commandOf(argv)
  const C = await config.findCommand(id)!.load()
  await Parser.parse(rest, {
    flags: {...C.baseFlags, ...C.flags, ...(C.enableJsonFlag ? {json: Flags.boolean()} : {})},
    args: C.args ?? {},
    strict: C.strict ?? true,
  })
}

describe('README.md', () => {
  it('is at most 250 lines', () => {
    expect(README.split('\n').length).toBeLessThanOrEqual(250)
  })

  it('every command in it parses, npm scripts exist, make targets exist', async () => {
    const cmds = readmeCommands()
    expect(cmds.length).toBeGreaterThan(10)
    const scripts = JSON.parse(fs.readFileSync('package.json', 'utf8')).scripts
    const targets = spawnSync('make', ['-s', '-C', 'experiments/growth', 'help'], {encoding: 'utf8'}).stdout
    for (const line of cmds) {
      const w = words(line)
      if (w[0] === 'npx') {
        expect(w[1], line).toBe('ligo')
        await expect(parses(w.slice(2)), line).resolves.toBeUndefined()
      } else if (w[0] === 'npm') {
        const script = w[1] === 'run' ? w[2] : w[1] === 'ci' ? undefined : w[1]
        if (script) expect(scripts[script], line).toBeDefined()
        else expect(w[1], line).toBe('ci')
      } else if (w[0] === 'make') {
        const target = w.filter((x) => !x.includes('=') && !x.startsWith('-')).slice(2)
        for (const t of target) expect(targets, `${line}: make help names ${t}`).toMatch(new RegExp(`^make ${t}\\b`, 'm'))
        const r = spawnSync('make', ['-n', ...w.slice(1)], {encoding: 'utf8'})
        expect(r.status, `${line}\n${r.stderr}`).toBe(0)
      } else if (w[0] === 'torchrun') {
        const script = w.find((x) => x.endsWith('.py'))!
        expect(fs.existsSync(script), line).toBe(true)
        const help = spawnSync('/usr/bin/python3', [script, '--help'], {encoding: 'utf8'})
        if (help.status === 0) for (const f of w.slice(w.indexOf(script) + 1).filter((x) => x.startsWith('--'))) expect(help.stdout, `${line}: ${f}`).toContain(f)
      } else {
        throw new Error(`README command not checked: ${line}`)
      }
    }
  })

  it('the main job runs end to end on tiny settings', () => {
    const block = readmeCommands().filter((l) => / ligo (data prepare|train|grow|eval|generate|info) /.test(l + ' '))
    const chain = block.slice(0, block.findIndex((l) => / ligo info /.test(l + ' ')) + 1)
    expect(chain.map((l) => commandOf(words(l).slice(2)).id)).toEqual(['data:prepare', 'train', 'grow', 'train', 'eval', 'generate', 'info'])
    const tmp = tmpDir('ligo-readme-')
    // Smaller values for the size and length flags; every other word is the README's.
    const tiny: Record<string, Record<string, string>> = {
      'data:prepare': {},
      train: {'--steps': '2', '--layers': '1', '--d-model': '32', '--heads': '2', '--seq': '32', '--batch': '2'},
      grow: {'--width': '64', '--depth': '2', '--steps': '2', '--eval-batches': '2'},
      eval: {'--batches': '2'},
      generate: {'--tokens': '5'},
      info: {},
    }
    let trained = 0
    for (const line of chain) {
      const w = words(line).slice(2).map((x) => x.replace(/^data\/brown$/, path.join(tmp, 'data')).replace(/^runs\//, `${tmp}/runs/`))
      const {id} = commandOf(w)
      const set = {...tiny[id]}
      // The grown model keeps its size: only the pretraining takes the model-size overrides.
      if (id === 'train' && trained++ > 0) for (const k of ['--layers', '--d-model', '--heads', '--seq', '--batch']) delete set[k]
      for (const [flag, value] of Object.entries(set)) {
        const i = w.indexOf(flag)
        if (i >= 0) w[i + 1] = value
        else w.push(flag, value)
      }
      const r = spawnSync(process.execPath, ['bin/run.js', ...w], {encoding: 'utf8', env: {...process.env, CI: 'true'}})
      expect(r.status, `${w.join(' ')}\n${r.stderr}`).toBe(0)
    }
    expect(fs.existsSync(path.join(tmp, 'runs', 'grown-trained', 'checkpoint', 'model.safetensors'))).toBe(true)
  })
})
