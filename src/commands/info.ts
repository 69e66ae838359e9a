import {Args, Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../cli/base.js'
import {type TrainerState, loadCheckpoint} from '../checkpoints/checkpoint.js'
import type {ModelConfig} from '../model/index.js'
import {type ParametrizationSummary, describeParametrization, parametrizationSummary} from '../mup/index.js'
import {type Role, type Space, numel} from '../model/schema.js'
import type {TrainConfig} from '../train/config.js'
import {trainFlopsPerToken} from '../train/flops.js'

export interface InfoOutput {
  checkpoint: string
  model: ModelConfig
  train?: TrainConfig
  tokenizer: object
  params: number
  flops_per_token: number
  /** SP or µP, the width multipliers and the per-tensor learning-rate rule (with the checkpoint's η when it has one). */
  parametrization: ParametrizationSummary
  tensors: {name: string; shape: number[]; spaces: Space[]; role: Role; numel: number}[]
  trainer?: TrainerState
  provenance: Record<string, unknown>
}

export default class Info extends BaseCommand {
  static summary = 'Show a checkpoint: model config, parameter table (shapes in named spaces), training state, provenance.'
  static examples = ['<%= config.bin %> <%= command.id %> runs/tiny', '<%= config.bin %> <%= command.id %> runs/tiny --json | jq .params']
  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {tensors: Flags.boolean({description: 'list every tensor (default: one row per module type)', default: false})}

  async run(): Promise<InfoOutput> {
    const {args, flags} = await this.parse(Info)
    const ck = loadCheckpoint(args.checkpoint)
    const m = ck.meta.model
    const tensors = ck.schema.map((s) => ({name: s.name, shape: s.shape, spaces: s.spaces, role: s.role, numel: numel(s.shape)}))
    const params = tensors.reduce((n, t) => n + t.numel, 0)
    const seq = ck.meta.train?.seq ?? m.n_positions
    const out: InfoOutput = {
      checkpoint: ck.dir,
      model: m,
      train: ck.meta.train,
      tokenizer: ck.meta.tokenizer,
      params,
      flops_per_token: trainFlopsPerToken(m, ck.schema, seq),
      parametrization: parametrizationSummary(m, ck.schema, ck.meta.train ?? 'adamw', ck.meta.train?.lr ?? 1),
      tensors,
      trainer: ck.trainer,
      provenance: ck.meta.provenance,
    }
    this.log(`${ck.dir}: ${m.family}, ${m.n_layer} layers, d_model ${m.d_model}, ${m.n_head} heads × ${m.head_size}, d_ffn ${m.d_ffn}, vocab ${m.vocab_size}, context ${m.n_positions}, ${m.tie_embeddings ? 'tied' : 'untied'} head`)
    this.log(`parameters: ${params.toLocaleString('en-US')} (${fmt(params)}); training FLOPs/token at seq ${seq}: ${fmt(out.flops_per_token)}`)
    for (const line of describeParametrization(out.parametrization, ck.meta.train !== undefined)) this.log(line)
    if (ck.meta.train) {
      const t = ck.meta.train
      this.log(`training settings: ${t.optimizer}, peak η ${t.lr}, warmup ${t.warmup}, ${t.schedule}, ${t.steps} steps, batch ${t.batch} × ${t.seq}; evaluation set ${t.eval_batches === 0 ? 'the whole validation split' : `${t.eval_batches} × ${t.batch} sequences of ${t.seq} tokens`}`)
    }
    if (ck.trainer) this.log(`trained: step ${ck.trainer.step}, ${fmt(ck.trainer.tokens)} tokens, ${fmt(ck.trainer.flops)} FLOPs, ${ck.trainer.elapsed_s.toFixed(0)} s, optimizer ${ck.trainer.optimizer}`)
    this.log('')
    const rows = flags.tensors ? tensors.map((t) => ({...t, count: 1})) : groupByModule(ck.schema.map((s, i) => ({...tensors[i], module: s.module})))
    const w = Math.max(...rows.map((r) => r.name.length), 6)
    this.log(`${'tensor'.padEnd(w)}  ${'shape'.padEnd(14)}  ${'spaces'.padEnd(14)}  ${'role'.padEnd(9)}  params`)
    for (const r of rows)
      this.log(`${r.name.padEnd(w)}  ${('[' + r.shape.join(',') + ']').padEnd(14)}  ${r.spaces.join('×').padEnd(14)}  ${r.role.padEnd(9)}  ${(r.numel * r.count).toLocaleString('en-US')}${r.count > 1 ? ` (${r.count} layers)` : ''}`)
    if (Object.keys(ck.meta.provenance).length > 0) {
      this.log('')
      for (const [k, v] of Object.entries(ck.meta.provenance)) this.log(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    }
    return out
  }
}

function groupByModule<T extends {name: string; module: string; numel: number}>(ts: T[]): (T & {count: number})[] {
  const byModule = new Map<string, T & {count: number}>()
  for (const t of ts) {
    const g = byModule.get(t.module)
    if (g) g.count++
    else byModule.set(t.module, {...t, name: t.name === t.module ? t.name : `h.*.${t.module}`, count: 1})
  }
  return [...byModule.values()]
}
