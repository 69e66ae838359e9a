"""Small commands the tests (test/torch/) and users call to check an exported directory against ligo.

    python -m ligo_torch.tool logits HF_DIR IDS.json OUT.f32     logits [B,T,V] of ids [[...], ...] as raw float32
    python -m ligo_torch.tool step HF_DIR --data DATA -o OUT_DIR [--plain | --no-table | --no-clip-fold]
        one optimizer step on batch 0 exactly as train.py makes it (lr = lr_at(0), ligo's clip, the table's groups),
        written as an HF directory. --plain: stock torch.optim.AdamW over param_groups (refuses fused slices);
        --no-table / --no-clip-fold: the table ignored / the clip norm taken in HF coordinates (negative controls).
    python -m ligo_torch.tool slices-check                           MupAdamW's sliced step == stock AdamW per part
Prints a JSON line with what it did.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ligo_torch.data import BatchSampler, DataDir  # noqa: E402
from ligo_torch.hf import hf_state, load_model, save_hf_dir  # noqa: E402
from ligo_torch.mup import load_table, param_groups, sp_table  # noqa: E402
from ligo_torch.optim import MupAdamW, clip_grad_norm_, lr_at, make_optimizer, set_lr  # noqa: E402
from ligo_torch.train import DEFAULTS, logits_of  # noqa: E402


def cmd_logits(a):
    model, _, family, impl = load_model(a.model)
    with open(a.ids) as f:
        ids = torch.tensor(json.load(f), dtype=torch.long)
    with torch.no_grad():
        logits = logits_of(model(ids)).float().contiguous()
    logits.numpy().tofile(a.out)
    print(json.dumps({'family': family, 'impl': impl, 'shape': list(logits.shape)}))


def cmd_step(a):
    model, config, family, impl = load_model(a.model)
    table = load_table(a.model, config) or sp_table(model, family)
    s = {**DEFAULTS, **{k: v for k, v in ((table.get('train') or {}).items()) if k in DEFAULTS}}
    data = DataDir(a.data)
    x, y = BatchSampler(data.train, s['batch'], s['seq'], s['seed']).sample(0, 0)
    use = table
    if a.no_table:  # every multiplier and fold 1: plain AdamW on the HF weights
        use = {**table, 'tensors': {n: {**e, 'slices': None, 'lr_mult': 1, 'weight_decay_mult': 1 if len(e['shape']) > 1 else 0,
                                        'eps_mult': 1, 'fold': 1} for n, e in table['tensors'].items()}}
    if a.plain:
        opt = torch.optim.AdamW(param_groups(model, use, s['lr'], s['weight_decay'], s['eps']), betas=(s['beta1'], s['beta2']))
    else:
        opt = make_optimizer(model, use, s['lr'], s['weight_decay'], (s['beta1'], s['beta2']), s['eps'])
    if s['accum'] != 1:
        raise ValueError('tool step: accum must be 1')
    logits = logits_of(model(x))
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    groups = opt.param_groups
    if a.no_clip_fold:
        groups = [{**g, 'fold': 1.0, 'slices': [{**sl, 'fold': 1.0} for sl in g['slices']] if g.get('slices') else None} for g in groups]
    norm = clip_grad_norm_(groups, s['grad_clip'])
    lr = lr_at(0, s['lr'], s['warmup'], s['steps'], s['schedule'], s['min_lr_ratio'])
    for g in opt.param_groups:
        g['lr'] = lr * g['lr_mult']
    opt.step()
    save_hf_dir(a.out, hf_state(model), config, table, copy_from=a.model)
    print(json.dumps({'family': family, 'impl': impl, 'loss': float(loss), 'grad_norm': norm, 'lr': lr, 'optimizer': type(opt).__name__}))


def cmd_slices_check(_a):
    """A fused [C, 3A] tensor stepped by MupAdamW with per-slice numbers equals three separate [C, A] tensors stepped
    by torch.optim.AdamW with those numbers as their groups' (3 steps, decay, eps, different lrs)."""
    torch.manual_seed(0)
    C, A = 5, 4
    parts = [torch.randn(C, A) for _ in range(3)]
    nums = [dict(lr_mult=0.5, weight_decay_mult=2.0, eps_mult=4.0, fold=0.5), dict(lr_mult=1.0, weight_decay_mult=1.0, eps_mult=1.0, fold=1.0),
            dict(lr_mult=2.0, weight_decay_mult=0.0, eps_mult=1.0, fold=1.0)]
    fused = torch.nn.Parameter(torch.cat(parts, 1).clone())
    sep = [torch.nn.Parameter(p.clone()) for p in parts]
    lr, wd, eps = 1e-2, 0.3, 1e-3
    slices = [{'axis': -1, 'start': i * A, 'end': (i + 1) * A, **n} for i, n in enumerate(nums)]
    o1 = MupAdamW([{'params': [fused], 'lr': lr, 'lr_mult': 1.0, 'weight_decay': wd, 'eps': eps, 'slices': slices}], betas=(0.9, 0.95))
    o2 = torch.optim.AdamW([{'params': [p], 'lr': lr * n['lr_mult'], 'weight_decay': wd * n['weight_decay_mult'], 'eps': eps * n['eps_mult']}
                            for p, n in zip(sep, nums)], betas=(0.9, 0.95))
    for step in range(3):
        g = torch.randn(C, 3 * A) * (step + 1)
        fused.grad = g.clone()
        for i, p in enumerate(sep):
            p.grad = g[:, i * A:(i + 1) * A].clone()
        o1.step()
        o2.step()
    diff = max(float((fused.detach()[:, i * A:(i + 1) * A] - p.detach()).abs().max()) for i, p in enumerate(sep))
    moved = float((fused.detach() - torch.cat(parts, 1)).abs().max())
    # Clip norm in ligo's coordinates: Σ (fold·‖g_slice‖)².
    fused.grad = torch.ones(C, 3 * A)
    norm = clip_grad_norm_(o1.param_groups, 0)
    want = (sum((n['fold'] ** 2) * C * A for n in nums)) ** 0.5
    print(json.dumps({'max_diff': diff, 'moved': moved, 'clip_norm': norm, 'clip_norm_expected': want}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    q = sub.add_parser('logits')
    q.add_argument('model')
    q.add_argument('ids')
    q.add_argument('out')
    q = sub.add_parser('step')
    q.add_argument('model')
    q.add_argument('--data', '-d', required=True)
    q.add_argument('--out', '-o', required=True)
    q.add_argument('--plain', action='store_true')
    q.add_argument('--no-table', action='store_true')
    q.add_argument('--no-clip-fold', action='store_true')
    sub.add_parser('slices-check')
    a = p.parse_args()
    {'logits': cmd_logits, 'step': cmd_step, 'slices-check': cmd_slices_check}[a.cmd](a)


if __name__ == '__main__':
    try:
        main()
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
