import {Args, Flags} from '@oclif/core'

import {BaseCommand, fmt} from '../cli/base.js'
import {CHECKPOINT_FORMAT, CHECKPOINT_VERSION, ensureCheckpointOutput, saveCheckpoint} from '../checkpoints/checkpoint.js'
import {readHfDir} from '../model/hf.js'
import {type ModelConfig, schemaOf} from '../model/index.js'
import {countParams} from '../model/schema.js'

export interface ImportResult {
  checkpoint: string
  model: ModelConfig
  params: number
  /** Dtypes of the source tensors (converted to F32). */
  dtypes: string[]
  tokenizer: string
}

export default class Import extends BaseCommand {
  static summary = 'Import a Hugging Face model directory (GPT-2, Llama or BERT) as a ligo checkpoint.'
  static description = `Reads config.json and model.safetensors (or a sharded model.safetensors.index.json; F32, F16 or BF16) of a GPT2LMHeadModel, LlamaForCausalLM or BertForMaskedLM and writes a ligo checkpoint (weights in F32). tokenizer.json is copied along and, if it is a byte-level BPE, becomes the checkpoint's tokenizer.
Other commands also read an HF directory directly (ligo info HF_DIR, ligo train HF_DIR ...); import makes the conversion once.`

  static examples = [
    '<%= config.bin %> <%= command.id %> ~/models/gpt2 -o ckpt/gpt2',
    '<%= config.bin %> <%= command.id %> ~/models/TinyLlama -o ckpt/tinyllama --force',
  ]

  static args = {dir: Args.string({description: 'Hugging Face model directory', required: true})}
  static flags = {
    out: Flags.string({char: 'o', description: 'checkpoint directory to write', required: true}),
    force: Flags.boolean({description: 'replace a non-empty output directory', default: false}),
  }

  async run(): Promise<ImportResult> {
    const {args, flags} = await this.parse(Import)
    const hf = readHfDir(args.dir)
    ensureCheckpointOutput(flags.out, {force: flags.force, sources: [args.dir]})
    saveCheckpoint(flags.out, {
      meta: {format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: hf.config, tokenizer: hf.tokenizer, provenance: {...hf.provenance, command: 'ligo import'}, hf: {config: hf.hfConfig}},
      weights: hf.weights,
      extra: hf.tokenizerFile ? {'tokenizer.json': hf.tokenizerFile} : undefined,
    })
    const m = hf.config
    const params = countParams(schemaOf(m))
    const out: ImportResult = {checkpoint: flags.out, model: m, params, dtypes: hf.provenance.hf_dtypes as string[], tokenizer: hf.tokenizer.kind}
    this.log(`${args.dir} → ${flags.out}: ${m.family}, ${m.n_layer} layers, d_model ${m.d_model}, ${fmt(params)} parameters (${out.dtypes.join('/')} → F32), tokenizer ${out.tokenizer}`)
    if (hf.tokenizer.kind === 'none') this.note(`note: no usable tokenizer (${String(hf.tokenizer.reason)}); generate and data prepare need one`)
    return out
  }
}
