import {Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../cli/base.js'
import {type Plan, parseCount, plan} from '../ligo/plan.js'

const pct = (x: number) => (x > 0 && x < 1e-4 ? `${(100 * x).toExponential(2)}%` : `${(100 * x).toFixed(2)}%`)

export default class PlanCommand extends BaseCommand {
  static summary = "G_stack's growth-timing guideline: how long to train the source before stacking it 4× deep, and what that costs."
  static description = `Evaluates log10(d) = 0.88·log10(N) + 163.27/log10(C) − 5.74 (Du et al., NeurIPS 2024; growth factor g = 4) for a target of N parameters and a budget of C FLOPs (C = 6·N·D for --tokens D): d tokens for an N/4-parameter source, its FLOPs, the cost of the growth operator (stacking: a copy; ligo's default operator for comparison) and the saving the guideline implies as a floor (the first d tokens at 1/4 of the cost), beside the paper's one measured 7B point. The equation was fitted on targets of 410M-3B parameters at 0.8e20-1.2e21 FLOPs with growth timings up to 50B tokens (the paper's §4.2); the plan warns when N, C or d fall outside, as the paper's own 7B / 300B-token point does.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --params 7B --tokens 300B',
    '<%= config.bin %> <%= command.id %> --params 7e9 --flops 1.26e22 --json',
  ]

  static flags = {
    params: Flags.custom<number>({parse: async (s) => parseCount('--params', s), required: true, description: 'target parameters N (7e9, 7B, 410M)'})(),
    tokens: Flags.custom<number>({parse: async (s) => parseCount('--tokens', s), description: 'training budget in tokens D (C = 6·N·D)', exactlyOne: ['tokens', 'flops']})(),
    flops: Flags.custom<number>({parse: async (s) => parseCount('--flops', s), description: 'training budget in FLOPs C', exactlyOne: ['tokens', 'flops']})(),
  }

  async run(): Promise<Plan> {
    const {flags} = await this.parse(PlanCommand)
    const p = plan({params: flags.params, tokens: flags.tokens, flops: flags.flops})
    for (const w of p.warnings) this.warn(w)
    const rows: [string, string][] = [
      ['target', `N = ${fmt(p.params)} parameters, D = ${fmt(p.tokens)} tokens, C = ${p.flops.toExponential(3)} FLOPs`],
      ['guideline', `${p.equation}: log10(d) = ${p.log10_d.toFixed(4)}`],
      ['grow after', `d = ${fmt(p.d_tokens)} tokens (${pct(p.source_token_fraction)} of D), growth factor g = ${p.growth_factor}`],
      ['source', `≈ ${fmt(p.source_params)} parameters (N/g: 1/g of the blocks), ${p.source_flops.toExponential(3)} FLOPs for d tokens (${pct(p.source_flops / p.flops)} of C)`],
      ['operator step', `stacking: 0 FLOPs (copies ${fmt(p.operator.stack_bytes)} bytes); ligo's default operator: ≈ ${p.operator.ligo_flops.toExponential(3)} FLOPs (${p.operator.ligo_steps} steps, ${fmt(p.operator.ligo_tokens)} tokens at 6·N; ${pct(p.operator.ligo_flops / p.flops)} of C)`],
      ['saving (floor)', `${pct(p.saving_floor.fraction)} of C = ${p.saving_floor.flops.toExponential(3)} FLOPs, if ${p.saving_floor.assumption}`],
      ['measured', `${p.measured.note}: ${pct(p.measured.token_saving)} fewer tokens (one point, not a fitted function of N and C)`],
      ['fit ranges', p.fit.ranges],
    ]
    const w = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) this.log(`${k.padEnd(w)}  ${v}`)
    return p
  }
}
