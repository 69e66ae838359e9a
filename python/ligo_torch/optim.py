"""AdamW with the µP table, ligo's learning-rate schedule and ligo's gradient clipping.

- lr_at: src/optim/schedule.ts lrAt (linear warmup from 0, then cosine or linear decay to min_lr_ratio·lr, or constant).
- MupAdamW: torch.optim.AdamW (same math as src/compute/optim-kernels.ts adamwStep: decoupled decay, bias-corrected
  moments, eps outside the square root) that also applies a fused tensor's per-slice lr, decay and eps (groups with
  `slices`, see mup.py): torch's own step runs every other group; a sliced group is stepped here, moments over the
  whole tensor, then decay and update slice by slice with each slice's numbers.
- clip_grad_norm_: src/optim/clip.ts clipGlobalNorm in ligo's coordinates. θ_hf = c·θ_ligo makes g_hf = g_ligo/c, so
  ‖g_ligo‖² = Σ_t (c_t·‖g_hf,t‖)² (c = the group's fold, per slice for fused tensors); the norm is summed in float64
  and, like ligo, every gradient is scaled by max_norm/(norm + 1e-6) when the norm exceeds max_norm.
"""
import math

import torch

from .mup import param_groups


def lr_at(step, lr, warmup, steps, schedule='cosine', min_lr_ratio=0.1):
    """LR for the update made at 0-based `step` (schedule.ts lrAt)."""
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    if schedule == 'constant':
        return lr
    span = max(1, steps - warmup)
    t = min(1.0, max(0.0, (step - warmup) / span))
    min_lr = lr * min_lr_ratio
    shape = 0.5 * (1 + math.cos(math.pi * t)) if schedule == 'cosine' else 1 - t
    return min_lr + (lr - min_lr) * shape


class MupAdamW(torch.optim.AdamW):
    """torch.optim.AdamW that also steps groups with `slices` (fused tensors with per-part µP numbers)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        sliced = [g for g in self.param_groups if g.get('slices')]
        hidden = [(p, p.grad) for g in sliced for p in g['params']]
        for p, _ in hidden:  # torch's step skips parameters without a gradient
            p.grad = None
        try:
            super().step()
        finally:
            for p, grad in hidden:
                p.grad = grad
        for g in sliced:
            self._sliced_step(g)
        return loss

    def _sliced_step(self, g):
        beta1, beta2 = g['betas']
        for p in g['params']:
            if p.grad is None:
                continue
            if g.get('amsgrad') or g.get('maximize'):
                raise ValueError('MupAdamW: amsgrad/maximize are not supported for sliced groups')
            state = self.state[p]
            if len(state) == 0:
                state['step'] = torch.tensor(0.)
                state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state['exp_avg_sq'] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state['step'] += 1
            step = float(state['step'])
            m, v, grad = state['exp_avg'], state['exp_avg_sq'], p.grad
            # Moments first (the decay does not read them), then each slice: decay and update with its own numbers.
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bc1, bc2_sqrt = 1 - beta1 ** step, math.sqrt(1 - beta2 ** step)
            for s in g['slices']:
                ax, n = s['axis'] % p.dim(), s['end'] - s['start']
                ps, ms, vs = (t.narrow(ax, s['start'], n) for t in (p, m, v))
                lr, wd, eps = g['lr'] * s['lr_mult'], g['weight_decay'] * s['weight_decay_mult'], g['eps'] * s['eps_mult']
                ps.mul_(1 - lr * wd)
                ps.addcdiv_(ms, (vs.sqrt() / bc2_sqrt).add_(eps), value=-lr / bc1)


def make_optimizer(model, table, lr, weight_decay, betas, eps, check_shapes=True):
    """MupAdamW over the table's groups (sliced ones included). Call set_lr before each step."""
    groups = param_groups(model, table, lr, weight_decay, eps, slices_ok=True, check_shapes=check_shapes)
    return MupAdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def set_lr(optimizer, lr):
    """Sets every group's lr to lr·lr_mult (the global η of ligo's schedule times the tensor's multiplier)."""
    for g in optimizer.param_groups:
        g['lr'] = lr * g['lr_mult']


def grad_sq_sum_ligo(groups):
    """Σ_t (c_t·‖g_t‖)² over the groups' gradients, in float64 (local: the caller all-reduces sharded gradients)."""
    total = torch.zeros((), dtype=torch.float64)
    for g in groups:
        for p in g['params']:
            if p.grad is None:
                continue
            grad = p.grad.detach()
            if g.get('slices'):
                for s in g['slices']:
                    part = grad.narrow(s['axis'] % grad.dim(), s['start'], s['end'] - s['start'])
                    total += (s['fold'] ** 2) * part.double().pow(2).sum().cpu()
            else:
                total += (g['fold'] ** 2) * grad.double().pow(2).sum().cpu()
    return total


def clip_grad_norm_(groups, max_norm, sq_sum=None):
    """Global-norm clipping in ligo's coordinates (clip.ts clipGlobalNorm); returns the norm before clipping.
    `sq_sum`: a precomputed (e.g. all-reduced) grad_sq_sum_ligo."""
    norm = math.sqrt(float(grad_sq_sum_ligo(groups) if sq_sum is None else sq_sum))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in groups:
            for p in g['params']:
                if p.grad is not None:
                    p.grad.mul_(scale)
    return norm
