import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {ensureOutputDir} from '../checkpoints/atomic.js'
import {InputError} from '../errors.js'
import {mergeBudgets} from '../report/budgets.js'
import {ACCOUNTING, BUDGET_ACCOUNTING, type Comparison, type SmallCost, compareCharts, compareRuns, loadRun, loadSmall, markdownTable, writeComparison} from '../report/compare.js'
import {loadReportRuns, withReportRuns} from '../report/from-report.js'

export interface CompareOutput extends Comparison {
  out: string
  small: SmallCost[]
  table: string
  files: string[]
}

export default class Compare extends BaseCommand {
  static summary = 'Compare runs trained from grown checkpoints against a from-scratch baseline: FLOPs and time to reach its loss.'
  static description = `Reads each RUN's metrics.jsonl (its validation points) and provenance. A run is labelled by the growth method of the checkpoint it started from (ligo, stack, interleave, net2net, zero, random), else by its directory name (--label NAME=RUN overrides). Runs sharing a label are told apart by directory name, or with --seeds grouped as seeds of one method; with --budgets, those that also share a training seed are merged into one curve of final losses, one point per budget.
--from REPORT adds the runs recorded in an earlier report's compare.json (as that comparison saw them: points, growth and small-model costs, training seed), so a comparison can go on after run directories are gone, e.g. a study extended by later seeds against a recorded scratch baseline. A report made with --budgets is read only with --budgets (and one without, only without); a run in two reports must be recorded identically and counts once; a method and seed given both by a report and by a run directory is an error. Recorded runs keep their recorded labels and small-model costs (--label and --small apply to run directories), and compare.json names the report each came from (runs[].from_report).
Writes OUT/loss_vs_flops.svg/.png, OUT/loss_vs_time.svg/.png (validation loss against charged FLOPs / seconds, one line per run, target as a dashed rule), OUT/table.md and OUT/compare.json (everything, also printed by --json).

Accounting: ${ACCOUNTING}

${BUDGET_ACCOUNTING}`

  static examples = [
    '<%= config.bin %> <%= command.id %> runs/t-ligo runs/t-stack runs/t-net2net runs/t-random --small runs/small -o report',
    '<%= config.bin %> <%= command.id %> runs/t-* runs/scratch --baseline scratch -o report --log-x',
    '<%= config.bin %> <%= command.id %> seed*/t-ligo seed*/t-random --seeds -o report --json | jq .methods[].summary.flops_saved',
    '<%= config.bin %> <%= command.id %> t-random t-ligo budget/t-ligo-* --budgets -o report-budget',
    '<%= config.bin %> <%= command.id %> seed*/run-random seed*/budget/run-* --budgets --seeds --paired stack --level 0.975 -o report-vs-stack',
    '<%= config.bin %> <%= command.id %> --from report-seeds1-4 seed{5,6}/run-random seed{5,6}/budget/run-* --budgets --seeds --paired stack -o report-seeds1-6',
  ]

  static strict = false
  static args = {runs: Args.string({description: 'training run directories (ligo train -o RUN); with the runs of --from, at least two', required: false})}
  static flags = {
    out: Flags.string({char: 'o', description: 'output directory for the charts, table.md and compare.json', required: true}),
    baseline: Flags.string({description: "the baseline's label or run directory (default: the run labelled 'random', else the only from-scratch run)"}),
    small: Flags.string({description: "the small model's run directory, whose pretraining FLOPs/time the \"incl. small\" columns add (default: each grown checkpoint's grown_from)"}),
    seeds: Flags.boolean({default: false, description: 'group runs with the same label as seeds; report mean and min–max'}),
    paired: Flags.string({description: "with --seeds: a method's label; every other method's % FLOPs saved minus that method's, seed by seed (mean, sd, 95% interval, seeds ahead / behind)"}),
    level: Flags.string({description: 'with --paired: also report the Student-t interval at this confidence level (a number between 0 and 1, e.g. 0.975 for a Bonferroni split of 5% over two looks); the 95% interval is always reported'}),
    budgets: Flags.boolean({default: false, description: 'runs with the same label and training seed are one method trained to different budgets (--steps): compare their final losses (budget-matched)'}),
    from: Flags.string({multiple: true, multipleNonGreedy: true, description: "an earlier report's directory or compare.json: compare its recorded runs too (repeatable)"}),
    label: Flags.string({multiple: true, multipleNonGreedy: true, description: 'NAME=RUN: label RUN as NAME (repeatable)'}),
    'log-x': Flags.boolean({default: false, description: 'log-scale x axes'}),
    force: Flags.boolean({default: false, description: 'write into a non-empty output directory'}),
  }

  async run(): Promise<CompareOutput> {
    const {argv, flags} = await this.parse(Compare)
    const dirs = argv as string[]
    const reports = (flags.from ?? []).map(loadReportRuns)
    if (dirs.length + reports.reduce((n, r) => n + r.runs.length, 0) < 2)
      throw new InputError('give at least two runs (run directories, or runs recorded in --from reports): the baseline and a method to compare with it')
    const labels = parseLabels(flags.label ?? [], dirs)
    const small = flags.small ? loadSmall(flags.small, 'flag') : undefined
    const loaded = dirs.map((d) => loadRun(d, {small, label: labels.get(path.resolve(d))}))
    const {runs, notes: fromNotes} = withReportRuns(flags.budgets ? mergeBudgets(loaded) : loaded, reports, flags.budgets)
    const c = compareRuns(runs, {baseline: flags.baseline, seeds: flags.seeds, budgets: flags.budgets, paired: flags.paired, level: parseLevel(flags.level)})
    ensureOutputDir(flags.out, {force: flags.force})
    const charts = await compareCharts(c, {logX: flags['log-x']})
    const smalls = [...new Map(runs.filter((r) => r.small).map((r) => [path.resolve(r.small!.dir), r.small!])).values()]
    const files = writeComparison(flags.out, c, charts, {small: smalls})
    const table = markdownTable(c)
    this.log(table)
    for (const s of smalls) this.note(`small model ${s.dir} (${s.source === 'flag' ? '--small' : 'from provenance'}): ${s.flops.toExponential(3)} FLOPs, ${s.elapsed_s.toFixed(1)} s of pretraining`)
    for (const n of fromNotes) this.note(n)
    for (const n of c.notes) this.note(`note: ${n}`)
    this.note(`wrote ${files.join(', ')}`)
    return {...c, out: flags.out, small: smalls, table, files}
  }
}

/** --level as a number (compareRuns checks its range), or undefined when the flag is absent. */
function parseLevel(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const v = Number(text)
  if (text.trim() === '' || !Number.isFinite(v)) throw new InputError(`--level ${text}: expected a confidence level strictly between 0 and 1, e.g. 0.975`)
  return v
}

/** --label NAME=RUN pairs, keyed by the resolved run directory; RUN must be one of the compared runs. */
function parseLabels(pairs: readonly string[], dirs: readonly string[]): Map<string, string> {
  const known = new Set(dirs.map((d) => path.resolve(d)))
  const out = new Map<string, string>()
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0 || i === p.length - 1) throw new InputError(`--label ${p}: expected NAME=RUN`)
    const run = path.resolve(p.slice(i + 1))
    if (!known.has(run)) throw new InputError(`--label ${p}: ${p.slice(i + 1)} is not one of the runs compared`)
    out.set(run, p.slice(0, i))
  }
  return out
}
