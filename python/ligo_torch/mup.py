"""The µP table that travels with an exported model (ligo_mup.json) → torch.optim.AdamW parameter groups.

Contract: ligo's notes/mup-table-spec.md (written by src/model/hf.ts). For every tensor under its HF name the table
gives lr_mult, weight_decay_mult and eps_mult, already corrected for the fold factor c (θ_hf = c·θ_ligo) that
`ligo export` applied, so that AdamW on the HF weights follows ligo's µP trajectory:
    group lr = η(step)·lr_mult,  group weight_decay = λ·weight_decay_mult,  group eps = ε·eps_mult.
One group per tensor; each group also carries its `name`, `lr_mult` and `fold` (clip_grad_norm_ in optim.py reads
the folds: ligo clips in its own coordinates). This mirrors src/mup/index.ts (mupTable, lrMultipliers, wdMultipliers)
after the fold.

Fused tensors (GPT-2's c_attn when the query is folded and k/v are not) carry `slices`: per-part numbers along an
axis. One AdamW group cannot hold them, so such a group gets lr = η, weight_decay = λ, eps = ε plus `slices`, and
only MupAdamW (optim.py) applies them; param_groups refuses them unless slices_ok=True, so that a plain
torch.optim.AdamW can never silently ignore them.
"""
import json
import os

TABLE_FILE = 'ligo_mup.json'
# Wrappers that prefix parameter names: DDP, FSDP (use_orig_params), torch.compile, activation checkpointing.
WRAPPER_PREFIXES = ('module.', '_fsdp_wrapped_module.', '_orig_mod.', '_checkpoint_wrapped_module.')
NUMBERS = ('lr_mult', 'weight_decay_mult', 'eps_mult', 'fold')


def load_table(model_dir, config=None):
    """The table of an exported directory. Without ligo_mup.json: an all-ones SP table (sp_table) if config.json
    shows no µP multipliers (a plain HF model, or a ligo SP export of an older ligo); else an error."""
    path = os.path.join(model_dir, TABLE_FILE)
    if not os.path.exists(path):
        lm = ((config or {}).get('ligo') or {}).get('model') or {}
        mup = lm.get('param', 'sp') != 'sp' or any(lm.get(k, 1) != 1 for k in ('alpha_in', 'alpha_out', 'alpha_attn'))
        if mup:
            raise ValueError(f'{model_dir}: no {TABLE_FILE}, but config.json says the model is µP (ligo.model {lm.get("param")}, '
                             f'alphas {[lm.get(k, 1) for k in ("alpha_in", "alpha_out", "alpha_attn")]}); re-export it with `ligo export`, '
                             'which writes the table')
        return None  # built by sp_table once the model exists
    with open(path) as f:
        t = json.load(f)
    if t.get('format') != 'ligo-mup-table' or t.get('version') != 1:
        raise ValueError(f"{path}: format {t.get('format')!r} version {t.get('version')!r}: expected 'ligo-mup-table' version 1")
    if t.get('optimizer_family', 'adam') != 'adam':
        raise ValueError(f"{path}: the multipliers are for the {t['optimizer_family']!r} optimizer family; this companion trains with AdamW "
                         "(family 'adam'): re-export from a checkpoint trained with adamw")
    return t


def sp_table(model, family):
    """An SP table for a model without ligo_mup.json: every multiplier and fold 1, decay on matrices only (ligo's
    schema `decays`: embeddings, hidden matrices and the readout; never gains and biases)."""
    tensors = {}
    for name, p in model.named_parameters():
        name = strip_prefixes(name)
        emb = name.endswith(('wte.weight', 'wpe.weight', 'embed_tokens.weight'))
        role = 'embedding' if emb else 'readout' if name == 'lm_head.weight' else 'hidden' if p.dim() >= 2 else \
            'gain' if name.endswith('weight') else 'bias'
        tensors[name] = {'shape': list(p.shape), 'role': role, 'lr_mult': 1.0, 'weight_decay_mult': 1.0 if p.dim() >= 2 else 0.0,
                         'eps_mult': 1.0, 'fold': 1.0}
    return {'format': 'ligo-mup-table', 'version': 1, 'family': family, 'parametrization': 'sp', 'optimizer_family': 'adam',
            'train': None, 'tensors': tensors, 'synthesized': True}


def strip_prefixes(name):
    changed = True
    while changed:
        changed = False
        for pre in WRAPPER_PREFIXES:
            if name.startswith(pre) or f'.{pre}' in name:
                name = name.replace(pre, '') if name.startswith(pre) else name.replace(f'.{pre}', '.')
                changed = True
    return name


def param_groups(model, table, base_lr, weight_decay, eps, slices_ok=False, check_shapes=True):
    """torch.optim.AdamW parameter groups from the table for a model whose named_parameters() carry HF names
    (tied parameters are listed once by named_parameters, as they have one table entry). Every parameter needs an
    entry and every entry a parameter: otherwise one error lists all of both."""
    tensors = table['tensors']
    params = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            params[strip_prefixes(name)] = p
    missing = sorted(n for n in params if n not in tensors)
    extra = sorted(n for n in tensors if n not in params)
    problems = []
    if missing:
        problems.append(f'parameters with no entry in the table: {", ".join(missing)}')
    if extra:
        problems.append(f'table entries with no parameter in the model: {", ".join(extra)}')
    if check_shapes:
        bad = [f'{n} {list(p.shape)} vs table {tensors[n]["shape"]}' for n, p in params.items() if n in tensors and list(p.shape) != list(tensors[n]['shape'])]
        if bad:
            problems.append(f'shapes differ: {", ".join(bad)}')
    if problems:
        raise ValueError(f'{TABLE_FILE} does not match the model: ' + '; '.join(problems) + ' (is the table from the same export as the weights?)')
    groups = []
    for name, p in params.items():
        e = tensors[name]
        g = {'params': [p], 'name': name, 'role': e.get('role')}
        if e.get('slices'):
            if not slices_ok:
                raise ValueError(f'{name} is a fused tensor whose parts have different µP numbers ({TABLE_FILE} `slices`): one AdamW '
                                 'group cannot apply them; build the optimizer with ligo_torch.optim.MupAdamW (make_optimizer), '
                                 'which applies each slice its own lr, decay and eps')
            slices = [{'axis': s['axis'], 'start': s['start'], 'end': s['end'], **{k: float(s[k]) for k in NUMBERS}} for s in e['slices']]
            g.update(lr=base_lr, lr_mult=1.0, weight_decay=weight_decay, eps=eps, fold=None, slices=slices)
        else:
            m = {k: float(e[k]) for k in NUMBERS}
            g.update(lr=base_lr * m['lr_mult'], lr_mult=m['lr_mult'], weight_decay=weight_decay * m['weight_decay_mult'],
                     eps=eps * m['eps_mult'], fold=m['fold'])
        groups.append(g)
    return groups
