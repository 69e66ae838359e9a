/** A small GPT-2-style tokenizer.json for tests (the hf-tokenizer tests pin its ids against Hugging Face tokenizers). */
import {BYTE_TO_CHAR} from '../../src/data/hf-tokenizer.js'

export const MERGES = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['Ġ', 'w'], ['o', 'r'], ['Ġ', 't'], ['Ġt', 'h'], ['Ġth', 'e'], ['i', 'n'], ['Ġ', 'a'], ['e', 'r'], ['Ġ', 's'],
  ['r', 'e'], ['o', 'n'], ['Ġa', 'n'], ['Ġan', 'd'], ['Ċ', 'Ċ'], ['Ġ', 'Ġ'], ['ĠĠ', 'ĠĠ'], ['1', '2'], ['ã', 'ģ']]

/** GPT-2-style tokenizer.json: the 256 byte symbols (ids 0-255), the merges above (256-276), <|endoftext|> (277). */
export function tinyTokenizer(o: {pairs?: boolean; model?: Record<string, unknown>; pre?: unknown; extra?: Record<string, unknown>} = {}): Record<string, any> {
  const vocab: Record<string, number> = {}
  BYTE_TO_CHAR.forEach((ch, i) => (vocab[ch] = i))
  for (const [a, b] of MERGES) vocab[a + b] = Object.keys(vocab).length
  vocab['<|endoftext|>'] = Object.keys(vocab).length
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{id: 277, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true}],
    normalizer: null, pre_tokenizer: o.pre ?? {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true},
    post_processor: {type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true},
    decoder: {type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true},
    model: {type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
      vocab, merges: o.pairs ? MERGES : MERGES.map((m) => m.join(' ')), ...o.model},
    ...o.extra,
  }
}

