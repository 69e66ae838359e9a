"""Hugging Face model directories as `ligo export` writes them and as `ligo import` reads them back.

A directory holds config.json (HF keys plus a `ligo` key: ligo's own model config, which `ligo import` needs to
unfold the µP multipliers), model.safetensors (HF names), ligo_mup.json (mup.py) and maybe tokenizer.json.
load_model builds the model: transformers' AutoModelForCausalLM when transformers is importable (and
LIGO_TORCH_MINIMAL is not set), else the minimal modules gpt2.py / llama.py; either way named_parameters() carry
HF names. save_hf_dir writes one atomically (a temporary directory, then the swap of src/checkpoints/atomic.ts
commitDirAtomic: DIR.new-swap / DIR.old-swap, which ligo's readers resolve). train_flops_per_token mirrors
src/train/flops.ts.
"""
import json
import os
import shutil

import torch

from .gpt2 import GPT2LMHeadModel
from .llama import LlamaForCausalLM
from .safetensors_io import read_safetensors, write_safetensors

MINIMAL = {'gpt2': GPT2LMHeadModel, 'llama': LlamaForCausalLM}
ARCHITECTURES = {'GPT2LMHeadModel': 'gpt2', 'LlamaForCausalLM': 'llama'}
# Buffers transformers may keep in its files (causal masks, rotary frequencies): not parameters.
BUFFER_SUFFIXES = ('.attn.bias', '.attn.masked_bias', '.rotary_emb.inv_freq')


def read_config(model_dir):
    path = os.path.join(model_dir, 'config.json')
    if not os.path.exists(path):
        raise ValueError(f'{model_dir}: no config.json (expected a Hugging Face directory written by `ligo export`)')
    with open(path) as f:
        config = json.load(f)
    if 'format' in config:
        raise ValueError(f'{path}: a ligo checkpoint (format {config["format"]!r}), not a Hugging Face directory: '
                         f'run `ligo export {model_dir} -o HF_DIR` first')
    family = config.get('model_type') or next((ARCHITECTURES[a] for a in config.get('architectures') or [] if a in ARCHITECTURES), None)
    if family not in MINIMAL:
        raise ValueError(f'{path}: model_type {config.get("model_type")!r}: the companion trains gpt2 (GPT2LMHeadModel) and llama '
                         '(LlamaForCausalLM) models')
    return config, family


def read_weights(model_dir):
    """{HF name: tensor} from model.safetensors or a sharded model.safetensors.index.json."""
    single = os.path.join(model_dir, 'model.safetensors')
    if os.path.exists(single):
        return read_safetensors(single)[0]
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    if not os.path.exists(index):
        raise ValueError(f'{model_dir}: no model.safetensors (or model.safetensors.index.json)')
    with open(index) as f:
        files = sorted(set(json.load(f)['weight_map'].values()))
    out = {}
    for name in files:
        out.update(read_safetensors(os.path.join(model_dir, name))[0])
    return out


def use_transformers():
    if os.environ.get('LIGO_TORCH_MINIMAL'):
        return False
    try:
        import transformers  # noqa: F401
        return True
    except ImportError:
        return False


def load_model(model_dir, device='cpu'):
    """(model in float32 on `device`, config dict, family, 'transformers' | 'minimal')."""
    config, family = read_config(model_dir)
    if use_transformers():  # not exercised on ligo's CI machines (transformers is not installed there)
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
        return model.to(device), config, family, 'transformers'
    model = MINIMAL[family](config)
    load_weights(model, read_weights(model_dir), model_dir)
    return model.to(device), config, family, 'minimal'


def load_weights(model, tensors, where):
    """Copies the file's tensors into the model's parameters by HF name; one error lists every mismatch."""
    canon = {}
    for k, v in tensors.items():
        if k.endswith(BUFFER_SUFFIXES):
            continue
        if isinstance(model, GPT2LMHeadModel) and not k.startswith('transformer.') and k != 'lm_head.weight':
            k = 'transformer.' + k  # the original GPT-2 files have no `transformer.` prefix
        canon[k] = v
    params = dict(model.named_parameters())
    tied = model.config['tie_word_embeddings']
    missing = [n for n in params if n not in canon]
    unexpected = [n for n in canon if n not in params and not (tied and n == 'lm_head.weight')]
    bad = [f'{n} {list(canon[n].shape)} (expected {list(p.shape)})' for n, p in params.items() if n in canon and canon[n].shape != p.shape]
    problems = [f'{what}: {", ".join(ns)}' for what, ns in (('missing tensors', missing), ('unexpected tensors', unexpected), ('wrong shapes', bad)) if ns]
    if problems:
        raise ValueError(f'{where}: model.safetensors does not match config.json: ' + '; '.join(problems))
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(canon[n].float())


def hf_state(model):
    """{HF name: float32 tensor} of the model's parameters (tied readouts once, as ligo export writes them)."""
    from .mup import strip_prefixes
    return {strip_prefixes(n): p.detach().float().cpu() for n, p in model.named_parameters()}


def save_hf_dir(out_dir, tensors, config, table=None, copy_from=None, extra=None):
    """Writes an HF directory atomically: config.json (torch_dtype float32), model.safetensors (F32), ligo_mup.json,
    tokenizer.json and tokenizer_config.json copied from `copy_from` where present, and `extra` {file name: callable(path)}."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f'.{os.path.basename(out_dir)}.tmp-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with open(os.path.join(tmp, 'config.json'), 'w') as f:
            json.dump({**config, 'torch_dtype': 'float32'}, f, indent=2)
            f.write('\n')
        write_safetensors(os.path.join(tmp, 'model.safetensors'), tensors, {'format': 'pt'})
        if table is not None:
            with open(os.path.join(tmp, 'ligo_mup.json'), 'w') as f:
                json.dump(table, f, indent=2)
                f.write('\n')
        for name in ('tokenizer.json', 'tokenizer_config.json'):
            if copy_from and os.path.exists(os.path.join(copy_from, name)):
                shutil.copyfile(os.path.join(copy_from, name), os.path.join(tmp, name))
        for name, write in (extra or {}).items():
            write(os.path.join(tmp, name))
        commit_dir_atomic(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def commit_dir_atomic(tmp, final):
    """atomic.ts commitDirAtomic: tmp → final.new-swap; final → final.old-swap; new-swap → final; drop old-swap.
    A crash leaves final, final.new-swap or final.old-swap complete, which resolve_committed_dir (and ligo's
    resolveCommittedDir / recoverDir) find."""
    recover_dir(final)
    if not os.path.exists(final):
        os.rename(tmp, final)
        return
    new, old = final + '.new-swap', final + '.old-swap'
    os.rename(tmp, new)
    os.rename(final, old)
    os.rename(new, final)
    shutil.rmtree(old)


def recover_dir(final):
    """atomic.ts recoverDir: settles a swap a crash interrupted (call only as the run that owns the directory)."""
    new, old = final + '.new-swap', final + '.old-swap'
    if os.path.exists(final):
        if os.path.exists(new):
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
            os.rename(new, final)
        shutil.rmtree(old, ignore_errors=True)
    elif os.path.exists(new):
        os.rename(new, final)
        shutil.rmtree(old, ignore_errors=True)
    elif os.path.exists(old):
        os.rename(old, final)


def train_flops_per_token(config, family, table, seq):
    """flops.ts trainFlopsPerToken: 6·N_matmul + 12·L·T·A, N_matmul = hidden and readout matrices (+ V·C when the
    readout is tied to the embedding), A = heads·head size."""
    n = sum(_numel(e['shape']) for e in table['tensors'].values() if e.get('role') in ('hidden', 'readout'))
    if family == 'gpt2':
        C, L, V = config.get('n_embd', 768), config.get('n_layer', 12), config['vocab_size']
        A, tied = C, config.get('tie_word_embeddings', True)
    else:
        C, L, V = config['hidden_size'], config['num_hidden_layers'], config['vocab_size']
        nh = config['num_attention_heads']
        A, tied = nh * (config.get('head_dim') or C // nh), config.get('tie_word_embeddings', False)
    if tied:
        n += V * C
    return 6 * n + 12 * L * seq * A


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n
