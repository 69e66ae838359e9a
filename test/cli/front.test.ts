/**
 * The front door (issue #32), end to end through the built CLI: µP presets and what `info`/`train` say about the
 * parametrization, one validation number for train/grow/eval, the defaults that are the headline's recipe,
 * refused parametrization switches, warnings for schedules that do not do what was asked, a runaway run's exit
 * code, unknown flags (--json: one small {error}), and the demo run twice without --force.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {smallBrown, tmpDir} from '../helpers.js'
import {metricRows, plain, start, waitFor} from '../reliability/helpers.js'
import {json, ligo} from './run.js'

let dir: string
let data: string
let src: string
/** A 1 × 16 µP source (gpt-micro with overrides), trained a few steps; its evaluation set: 10 batches of 4 × 16. */
const MODEL = ['--layers', '1', '--d-model', '16', '--heads', '2', '--seq', '16', '--batch', '4', '--eval-every', '0']

beforeAll(async () => {
  if (!fs.existsSync('dist/commands/train.js')) throw new Error('dist/ is missing: run `npm run build` first')
  dir = tmpDir('ligo-front-')
  data = await smallBrown()
  src = path.join(dir, 'src')
  const r = ligo(['train', '--config', 'gpt-micro', '--data', data, ...MODEL, '-o', src, '--steps', '6'])
  expect(r.code, r.stderr).toBe(0)
})

describe('µP is the main job', () => {
  it('the presets are µP, and info and train say so with the per-tensor LR rule', () => {
    const info = json(['info', src])
    expect(info.model.param).toBe('mup')
    expect(info.parametrization).toMatchObject({param: 'mup', multipliers: {resid: 1, attn: 1, ffn: 1}})
    const text = plain(ligo(['info', src]).stdout)
    expect(text).toMatch(/parametrization: µP, base d_model 16/)
    expect(text).toMatch(/per-tensor LR \(µP\): η·1 = 3\.00e-3 for \d+ tensors/)
    const grown = path.join(dir, 'grown-net2net')
    expect(ligo(['grow', src, '--width', '32', '--method', 'net2net', '--data', data, '-o', grown]).code).toBe(0)
    const g = json(['info', grown])
    expect(g.parametrization.multipliers.resid).toBe(2)
    // µP: the hidden matrices of the 2× wider model train at η/2, everything else at η; logits × 1/2.
    expect(g.parametrization.lr_groups.map((x: {lr_mult: number}) => x.lr_mult)).toEqual([1, 0.5])
    expect(g.parametrization.readout_mult).toBe(0.5)
    const t = ligo(['train', grown, '--data', data, '--steps', '2', '--warmup', '1', '-o', path.join(dir, 'gt')])
    expect(t.code, t.stderr).toBe(0)
    expect(plain(t.stderr)).toMatch(/parametrization: µP, base d_model 16 \(width multipliers: resid 2, attention 2, ffn 2\)/)
    expect(plain(t.stderr)).toMatch(/per-tensor LR \(µP\): η·1 = 3\.00e-3 for \d+ tensors \([^)]*embedding[^)]*\); η·0\.5 = 1\.50e-3 for \d+ tensors \(hidden\); logits × 0\.5/)
  })

  it('refuses a parametrization switch that changes the function, allows one at base width', () => {
    const grown = path.join(dir, 'grown-net2net')
    const r = ligo(['train', grown, '--data', data, '--param', 'sp', '--steps', '1', '-o', path.join(dir, 'switch')])
    expect(r.code).toBe(2)
    expect(plain(r.stderr)).toMatch(/--param sp: checkpoint .* was trained as µP at width multipliers 2 .*changes the function it computes \(logits × 0\.5 → 1/)
    expect(fs.existsSync(path.join(dir, 'switch', 'checkpoint'))).toBe(false)
    // The source is at its base width: µP and SP are the same function there.
    const ok = ligo(['train', src, '--data', data, '--param', 'sp', '--steps', '1', '--warmup', '0', '-o', path.join(dir, 'switch-ok')])
    expect(ok.code, ok.stderr).toBe(0)
  })
})

describe('one number means one thing', () => {
  it('train, grow and eval report the same validation loss for the same checkpoint by default', () => {
    const run = path.join(dir, 'same')
    const t = json(['train', '--config', 'gpt-micro', '--data', data, ...MODEL, '-o', run, '--steps', '4'])
    const e = json(['eval', run, '--data', data])
    expect(e.eval_set).toEqual({batch: 4, seq: 16, batches: 10})
    expect(e.loss).toBe(t.val.loss)
    expect(e.tokens).toBe(t.val.tokens)
    const grown = path.join(dir, 'same-grown')
    const g = json(['grow', run, '--width', '32', '--depth', '2', '--data', data, '--steps', '2', '-o', grown])
    const eg = json(['eval', grown, '--data', data])
    expect(eg.loss).toBe(g.val_final)
    // eval's figure carries its size; the whole split is one flag away.
    expect(plain(ligo(['eval', run, '--data', data]).stdout)).toMatch(/\(640 tokens: 10 batches of 4 × 16;/)
    expect(json(['eval', run, '--data', data, '--batches', '0']).tokens).toBeGreaterThan(640)
  })
})

describe('defaults are the recipe that won', () => {
  it('grow with no LiGO flags resolves to the headline configuration and says so; the grown model carries the post-growth warmup', () => {
    // The headline's LiGO-25 (docs/growth-study.md): grow_ligo in budget-walk.sh with `grow_ligo DIR S 25 3` of
    // study-w256.sh. Read both, so that a change on either side fails here.
    const walk = fs.readFileSync('experiments/growth/tuning/budget-walk.sh', 'utf8')
    const study = fs.readFileSync('experiments/growth/tuning/study-w256.sh', 'utf8')
    const call = /grow_ligo \$O\/grown-ligo25 \$S (\d+) (\d+)\s*$/m.exec(study)
    expect(call, 'study-w256.sh grows LiGO-25 with grow_ligo').not.toBeNull()
    const body = /grow_ligo\(\) \{[\s\S]*?\n\}/.exec(walk)![0]
    const flag = (name: string) => new RegExp(`--${name} (\\S+)`).exec(body)?.[1]
    const headline = {steps: Number(call![1]), warmup: Number(call![2]), batch: Number(flag('batch')), seq: Number(flag('seq'))}
    expect(headline).toEqual({steps: 25, warmup: 3, batch: 8, seq: 128})
    expect(body).not.toMatch(/--(lr|width-init|depth-init|depth-noise) /) // the rest are the tool's defaults

    const grown = path.join(dir, 'recipe')
    const r = ligo(['grow', src, '--width', '32', '--depth', '2', '--data', data, '-o', grown])
    expect(r.code, r.stderr).toBe(0)
    const prov = JSON.parse(fs.readFileSync(path.join(grown, 'config.json'), 'utf8')).provenance.growth.ligo
    expect(prov).toMatchObject({steps: headline.steps, warmup: headline.warmup, batch: headline.batch, seq: headline.seq,
      lr: 1e-3, widthInit: 'auto', depthInit: 'stack', depthNoise: 0.03, fullWidth: false, learnWidth: true, learnDepth: true})
    expect(plain(r.stderr)).toMatch(/operator: 25 steps \(default\), warmup 3 \(default\), batch 8 \(default\) × 64, lr 0\.001 \(default\), width init auto → fp, depth init stack/)
    // The post-growth schedule: the source's, warmup raised to the headline's 300; `ligo train GROWN` uses it.
    const info = json(['info', grown])
    expect(info.train).toMatchObject({lr: 0.003, warmup: 300, batch: 4, seq: 16})
    const t = ligo(['train', grown, '--data', data, '--steps', '2', '-o', path.join(dir, 'recipe-run')])
    expect(t.code, t.stderr).toBe(0)
    expect(plain(t.stderr)).toMatch(/schedule: adamw, peak η 0\.003, warmup 300, cosine/)
    expect(plain(t.stderr)).toMatch(/warmup \(300\) ≥ steps \(2\): the learning rate never reaches its peak/)
  })
})

describe('small things a newcomer trips on', () => {
  it('an unknown flag: one small {error} object under --json, "did you mean" without', () => {
    const j = ligo(['train', '--stesp', '3', '--json'])
    expect(j.code).toBe(2)
    expect(j.stdout.length).toBeLessThan(500)
    expect(JSON.parse(j.stdout)).toEqual({error: {message: expect.stringMatching(/unknown flag: --stesp \(did you mean --steps\?\)/), code: 'E_USAGE', exit: 2, oclif: {exit: 2}}})
    const h = ligo(['info', src, '--jsn'])
    expect(h.code).toBe(2)
    expect(plain(h.stderr)).toMatch(/unknown flag: --jsn \(did you mean --json\?\); see `npx ligo info --help`/)
  })

  it('train warns when warmup ≥ steps, and when --resume --steps moves the schedule', async () => {
    const run = path.join(dir, 'horizon')
    const t = ligo(['train', '--config', 'gpt-micro', '--data', data, ...MODEL, '-o', run, '--steps', '3', '--warmup', '5'])
    expect(t.code).toBe(0)
    expect(plain(t.stderr)).toMatch(/warmup \(5\) ≥ steps \(3\)/)
    // A long run stopped early (SIGINT saves a checkpoint), resumed with a shorter --steps: the cosine's horizon moves.
    const long = path.join(dir, 'horizon-long')
    const p = start(['train', '--config', 'gpt-micro', '--data', data, ...MODEL, '-o', long, '--steps', '100000', '--warmup', '2', '--save-every', '0'])
    await waitFor(() => p.exited() || metricRows(long).length >= 5)
    p.child.kill('SIGINT')
    const stopped = await p.done
    expect(stopped.code, stopped.stderr).toBe(130)
    const at = Number(/stopped at step (\d+)\//.exec(stopped.stderr)![1])
    const r = ligo(['train', '--resume', long, '--steps', String(at + 2)])
    expect(r.code, r.stderr).toBe(0)
    expect(plain(r.stderr)).toMatch(new RegExp(`--steps ${at + 2}: the run was planned for 100000 steps, so its cosine schedule is re-horizoned: the learning rate at step ${at} jumps from 3\\.00e-3 to \\d\\.\\d\\de-\\d \\(a shorter run decays faster from here on\\)`))
  })

  it('a run that ends far above where it started exits 1 and says so', () => {
    const r = ligo(['train', '--config', 'gpt-micro', '--data', data, ...MODEL, '-o', path.join(dir, 'runaway'), '--steps', '30', '--warmup', '0', '--lr', '10', '--grad-clip', '0', '--schedule', 'constant'])
    expect(r.code, r.stderr).toBe(1)
    expect(plain(r.stderr)).toMatch(/training went wrong: the loss rose from \d+\.\d+ at its first step to \d+\.\d+ nats\/token at step 30 \(more than 1 above\); the checkpoint was saved in .*runaway/)
    expect(fs.existsSync(path.join(dir, 'runaway', 'checkpoint', 'model.safetensors'))).toBe(true)
  })
})

describe('the demo', () => {
  it('runs twice into its own directory without --force, µP, ending with the comparison table in few lines', () => {
    const out = path.join(dir, 'demo')
    const args = ['demo', '-o', out, '--small-steps', '4', '--grow-steps', '2', '--train-steps', '4', '--eval-batches', '2']
    const first = ligo(args)
    expect(first.code, first.stderr).toBe(0)
    const second = ligo(args)
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toMatch(/reusing the prepared Brown corpus/)
    const lines = (second.stdout + second.stderr).trimEnd().split('\n')
    expect(lines.length).toBeLessThan(60)
    for (const row of ['source, 2 × 64', 'grown to 4 × 128, at initialisation', 'grown, after LiGO (2 operator steps)', 'grown, after training 4 steps', 'from scratch, 4 × 128, trained 4 steps'])
      expect(second.stdout).toContain(row)
    for (const m of ['small', 'grown-trained', 'scratch']) expect(json(['info', path.join(out, m)]).model.param).toBe('mup')
    // Not a demo's directory: refused without --force.
    const other = path.join(dir, 'not-a-demo')
    fs.mkdirSync(other)
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine')
    const r = ligo(['demo', '-o', other, '--small-steps', '2'])
    expect(r.code).toBe(2)
    expect(plain(r.stderr)).toMatch(/is not a previous demo's directory: pass --force/)
    expect(fs.readFileSync(path.join(other, 'notes.txt'), 'utf8')).toBe('mine')
  })
})
