import {Args, Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../../cli/base.js'
import {loadCheckpoint} from '../../checkpoints/checkpoint.js'
import type {ModelConfig} from '../../model/index.js'
import {type ForwardMultipliers, type MupRow, forwardMultipliers, mupTable, widthMultipliers} from '../../mup/index.js'
import {OPTIMIZER_NAMES} from '../../mup/rules.js'

export interface MupTableResult {
  checkpoint: string
  param: ModelConfig['param']
  optimizer: string
  base: {d_model: number; n_head: number; head_size: number; d_ffn: number}
  /** width / base width of the residual, attention (heads × head size), FFN and head spaces. */
  width_mult: ReturnType<typeof widthMultipliers>
  forward: ForwardMultipliers
  rows: MupRow[]
}

export default class MupTable extends BaseCommand {
  static summary = "Show a checkpoint's µP factors: width multipliers, forward multipliers, and per-tensor init std, LR and WD multipliers."
  static examples = [
    '<%= config.bin %> <%= command.id %> runs/grown',
    '<%= config.bin %> <%= command.id %> runs/grown --tensors --optimizer came --json',
  ]

  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {
    optimizer: Flags.option({options: OPTIMIZER_NAMES, description: "optimizer the LR/WD factors are for (default: the checkpoint's)"})(),
    tensors: Flags.boolean({description: 'one row per tensor (default: one per module type)', default: false}),
  }

  async run(): Promise<MupTableResult> {
    const {args, flags} = await this.parse(MupTable)
    const ck = loadCheckpoint(args.checkpoint)
    const c = ck.meta.model
    const train = ck.meta.train as {optimizer?: string; scale_parameter?: boolean} | undefined
    const optimizer = flags.optimizer ?? train?.optimizer ?? 'adamw'
    const rows = mupTable(c, ck.schema, {optimizer, scale_parameter: optimizer === train?.optimizer ? train?.scale_parameter : undefined})
    const out: MupTableResult = {
      checkpoint: ck.dir, param: c.param, optimizer,
      base: {d_model: c.base_d_model, n_head: c.base_n_head, head_size: c.base_head_size, d_ffn: c.base_d_ffn},
      width_mult: widthMultipliers(c), forward: forwardMultipliers(c), rows,
    }
    const m = out.width_mult
    this.log(`${ck.dir}: ${c.param === 'mup' ? 'µP' : 'SP'}, α_in ${c.alpha_in}, α_out ${c.alpha_out}, α_attn ${c.alpha_attn}${c.zero_query ? ', zero-init queries' : ''}; factors for ${optimizer}`)
    this.log(`base d_model ${c.base_d_model}, heads ${c.base_n_head} × ${c.base_head_size}, d_ffn ${c.base_d_ffn}; width multipliers: resid ${fmt(m.resid)}, attn ${fmt(m.attn)}, ffn ${fmt(m.ffn)}, head ${fmt(m.head)}`)
    this.log(`forward: embeddings ×${fmt(out.forward.input)}, attention logits ×${fmt(out.forward.attention)} (qᵀk), output logits ×${fmt(out.forward.readout)}`)
    this.log('')
    const shown = flags.tensors ? rows : byModule(rows, ck.schema.map((s) => s.module))
    const w = Math.max(6, ...shown.map((r) => r.name.length))
    this.log(`${'tensor'.padEnd(w)}  ${'role'.padEnd(9)}  ${'spaces'.padEnd(12)}  ${'m_in'.padEnd(6)}  ${'init std'.padEnd(10)}  ${'lr ×'.padEnd(8)}  ${'wd ×'.padEnd(8)}  out ×`)
    for (const r of shown) {
      const std = r.init_std === null ? '(const)' : fmt(r.init_std, 4)
      this.log(`${r.name.padEnd(w)}  ${r.role.padEnd(9)}  ${r.spaces.join('×').padEnd(12)}  ${fmt(r.fan_in_mult).padEnd(6)}  ${std.padEnd(10)}  ${fmt(r.lr_mult, 4).padEnd(8)}  ${fmt(r.wd_mult, 4).padEnd(8)}  ${fmt(r.output_mult, 4)}`)
    }
    return out
  }
}

/** One row per module type (the factors are the same in every block). */
function byModule(rows: MupRow[], modules: string[]): MupRow[] {
  const seen = new Map<string, MupRow>()
  rows.forEach((r, i) => {
    if (!seen.has(modules[i])) seen.set(modules[i], {...r, name: r.name === modules[i] ? r.name : `*.${modules[i]}`})
  })
  return [...seen.values()]
}
