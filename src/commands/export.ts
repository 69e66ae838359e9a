import * as fs from 'node:fs'
import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {ensureOutputDir} from '../checkpoints/atomic.js'
import {loadCheckpoint} from '../checkpoints/checkpoint.js'
import type {StFloatDtype} from '../checkpoints/safetensors.js'
import {InputError} from '../errors.js'
import {type HfWriteResult, MUP_TABLE_FILE, writeHfDir} from '../model/hf.js'

export default class Export extends BaseCommand {
  static summary = 'Export a checkpoint as a Hugging Face model directory (GPT2LMHeadModel, LlamaForCausalLM, BertForMaskedLM).'
  static description = `Writes config.json, model.safetensors (in the chosen dtype, metadata format "pt"), ligo_mup.json (every tensor's AdamW learning-rate, weight-decay and eps multipliers under its HF name: µP for PyTorch, see python/README.md) and tokenizer.json + tokenizer_config.json (a byte-level one is generated for the byte tokenizer); transformers loads the result with from_pretrained. µP models are exported by folding their forward multipliers (α_in, α_out/m, the attention scale) into the embeddings, the final norm and the query projections, so stock transformers code computes ligo's logits; ligo import divides them back out. Tied readouts are left out of the file (transformers ties them on load). Refused: Reformer's reversible blocks and LSH attention (no transformers class computes them).`

  static examples = [
    '<%= config.bin %> <%= command.id %> runs/tiny --format hf -o hf/tiny',
    '<%= config.bin %> <%= command.id %> runs/tiny --format hf --dtype bf16 -o hf/tiny-bf16 --force',
  ]

  static args = {checkpoint: Args.string({description: 'checkpoint or run directory', required: true})}
  static flags = {
    format: Flags.option({options: ['hf'] as const, description: 'output format', default: 'hf' as const})(),
    dtype: Flags.option({options: ['f32', 'f16', 'bf16'] as const, description: 'stored dtype of the weights', default: 'f32' as const})(),
    out: Flags.string({char: 'o', description: 'directory to write', required: true}),
    force: Flags.boolean({description: 'replace a non-empty output directory', default: false}),
  }

  async run(): Promise<HfWriteResult> {
    const {args, flags} = await this.parse(Export)
    const ck = loadCheckpoint(args.checkpoint, {onProgress: this.ioProgress()})
    if (path.resolve(flags.out) === path.resolve(ck.dir)) throw new InputError(`-o ${flags.out}: that is the checkpoint being exported; choose another directory`)
    ensureOutputDir(flags.out, {force: flags.force})
    const tokFile = path.join(ck.dir, 'tokenizer.json')
    const r = writeHfDir(flags.out, {config: ck.meta.model, weights: ck.weights, tokenizer: ck.meta.tokenizer, train: ck.meta.train, hfConfig: ck.meta.hf?.config,
      provenance: {...ck.meta.provenance, exported_from: path.resolve(ck.dir)}}, {
      dtype: flags.dtype.toUpperCase() as StFloatDtype,
      tokenizerFile: fs.existsSync(tokFile) ? fs.readFileSync(tokFile) : undefined,
    })
    this.log(`${ck.dir} → ${r.dir}: ${r.architecture}, ${r.tensors} tensors in ${r.dtype}${r.tied ? ' (readout tied)' : ''}; files ${r.files.join(', ')}`)
    const folded = Object.entries(r.folded)
    if (folded.length > 0)
      this.log(`µP: forward multipliers folded into ${folded.length} tensors (${[...new Set(folded.map(([, f]) => f))].map((f) => `×${+f.toPrecision(6)}`).join(', ')}); per-tensor AdamW multipliers for PyTorch in ${MUP_TABLE_FILE}`)
    return r
  }
}
